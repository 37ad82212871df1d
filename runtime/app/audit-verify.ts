/**
 * `deeppowers audit verify` as a library call: re-check a transparency log (a server's data dir,
 * or a running server over HTTP) against the log key and witnesses given, and report each
 * problem. runtime/cli/audit.ts parses the command line into this and prints the report.
 */
import { writeFileSync } from 'node:fs';
import { fail } from '../../compiler/errors';
import { readTextFile } from '../data/read-text-file';
import { auditLog, type AuditReport } from '../network/audit';
import { dataDirSource, serverSource, type OpenedSource } from '../network/audit-sources';
import { parseWitnessKeys, readKeptCheckpoint } from '../network/audit-anchors';
import { NodeList } from '../network/node-list';
import { parseVkey } from '../network/signed-note';

export interface AuditVerifyOptions {
  readonly dataDir?: string;
  readonly server?: string;
  /** Bearer token for `server` (the CLI resolves --token, --token-file and DEEPPOWERS_TOKEN into it). */
  readonly token?: string;
  readonly logKey?: string;
  readonly since?: string;
  readonly saveCheckpoint?: string;
  readonly witnessKeys?: string;
  readonly minCosignatures?: string;
  /** The operator's nodes file (`serve --nodes`): only its nodes count in an entry. */
  readonly nodes?: string;
}

export async function auditVerify(opts: AuditVerifyOptions): Promise<AuditReport> {
  if ((opts.dataDir === undefined) === (opts.server === undefined)) fail('BAD_ARGUMENT', 'give --data-dir DIR or --server URL (one of them)');
  const witnesses = opts.witnessKeys !== undefined ? parseWitnessKeys(readTextFile(opts.witnessKeys, '--witness-keys file'), opts.witnessKeys) : [];
  const minCosignatures = opts.minCosignatures !== undefined ? wholeNumber(opts.minCosignatures, '--min-cosignatures') : witnesses.length > 0 ? 1 : 0;
  if (minCosignatures > witnesses.length) fail('BAD_ARGUMENT', `--min-cosignatures ${minCosignatures} needs at least that many keys in --witness-keys (got ${witnesses.length})`);
  const nodes = opts.nodes !== undefined ? NodeList.readFile(opts.nodes) : undefined;
  const kept = opts.since !== undefined ? readKeptCheckpoint(readTextFile(opts.since, '--since file'), opts.since, opts.server) : undefined;
  const opened: OpenedSource = opts.dataDir !== undefined ? dataDirSource(opts.dataDir) : await serverSource(opts.server!, opts.token);
  try {
    const logKey = opts.logKey ? parseVkey(opts.logKey) : kept?.logVkey ? parseVkey(kept.logVkey) : opened.logKey;
    const warnings =
      !opts.logKey && !kept
        ? [
            `the log key was read from the audited ${opts.dataDir !== undefined ? 'data dir (log.vkey)' : 'server (GET /log)'} itself, so a log rewritten and re-signed under a new key would pass: ` +
              'give --log-key, or --since a checkpoint saved earlier (--save-checkpoint) or a client\'s pins.json',
          ]
        : [];
    const report = await auditLog(opened.source, logKey, { witnesses, minCosignatures, ...(kept ? { since: kept.note } : {}), ...(nodes ? { nodes } : {}), warnings });
    if (opts.saveCheckpoint !== undefined && report.ok && report.latest) writeFileSync(opts.saveCheckpoint, report.latest.note);
    return report;
  } finally {
    opened.close();
  }
}

function wholeNumber(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) fail('BAD_ARGUMENT', `${flag} takes a whole number, got "${text}"`);
  return Number(text);
}
