export { signRequest } from './sources/duo-api/sign.js';
export type { SignRequestInput, SignedRequest } from './sources/duo-api/sign.js';
