// Child process for the determinism test: evaluate a toy-model request from files, print the result's SHA-256.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FheServer } from '../../runtime/server/fhe-server';
import { servedToy } from '../e2e/mcp-toy';
import { sealBackend } from '../../runtime/backends/seal/backend';

const [layout, keysFile, requestFile] = process.argv.slice(2) as ['vector' | 'batch', string, string];
const toy = servedToy('toy', layout);
const server = new FheServer(sealBackend);
await server.loadModel(toy.served.server);
const keysId = server.loadKeys(new Uint8Array(readFileSync(keysFile)));
const result = await server.evaluate(toy.served.server.modelHash, keysId, new Uint8Array(readFileSync(requestFile)));
process.stdout.write(`${createHash('sha256').update(result).digest('hex')}\n`);
server.dispose();
