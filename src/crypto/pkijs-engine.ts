// The PKI.js crypto engine over Node's webcrypto, passed per call rather than installed with
// pkijs.setEngine, so no module changes PKI.js's global state.
import { webcrypto } from 'node:crypto';
import * as pkijs from 'pkijs';

type EngineCrypto = ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'];

export const pkijsEngine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as EngineCrypto });
