/**
 * MSP parent accounts (Accounts API). `POST /accounts/v1/account/list` on the parent's host, signed
 * with the Accounts API ikey/skey, lists the children `{account_id, name, api_hostname}`. A child's logs
 * are read like duo_client_python's AccountAdmin does: the request goes to the child's `api_hostname`
 * (the parent's host when absent), is signed with the same parent credentials, and carries
 * `account_id=<child>` as a signed parameter.
 */
import { ErrorCodes } from '../../errors.js';
import type { DuoClient } from './client.js';
import { DuoApiError } from './errors.js';

export interface ChildAccount {
  id: string;
  name: string;
  /** host[:port] to send the child's requests to. */
  host: string;
}

export const ACCOUNTS_LIST_PATH = '/accounts/v1/account/list';

export async function listChildAccounts(client: DuoClient, parentHost: string, signal?: AbortSignal): Promise<ChildAccount[]> {
  const res = await client.call({ method: 'POST', host: parentHost, path: ACCOUNTS_LIST_PATH, params: {}, signal });
  if (!Array.isArray(res.response)) {
    throw new DuoApiError(ErrorCodes.DUO_RESPONSE, `Duo answered POST ${ACCOUNTS_LIST_PATH} on ${parentHost} without an account list; is this an Accounts API application?`);
  }
  const out: ChildAccount[] = [];
  for (const a of res.response) {
    if (typeof a !== 'object' || a === null) continue;
    const r = a as Record<string, unknown>;
    if (typeof r.account_id !== 'string' || r.account_id === '') continue;
    const host = typeof r.api_hostname === 'string' && /^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(r.api_hostname) ? r.api_hostname : parentHost;
    out.push({ id: r.account_id, name: typeof r.name === 'string' ? r.name : r.account_id, host });
  }
  return out;
}

/** The API host without a port, as records carry it. */
export function hostWithoutPort(host: string): string {
  return host.replace(/:\d+$/, '').toLowerCase();
}
