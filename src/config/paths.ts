/** Where the relay looks for its config when `--config` is not given. */
export const DEFAULT_CONFIG_PATH = '/etc/duo-relay/config.yaml';
