import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { fail } from '../../compiler/errors';
import { auditLog, type AuditReport } from '../network/audit';
import { dataDirSource, serverSource, type OpenedSource } from '../network/audit-sources';
import { parseWitnessKeys, readKeptCheckpoint } from '../network/audit-anchors';
import { parseVkey } from '../network/signed-note';
import { resolveToken } from './client';
import { printJson } from './output';
import { EXIT_CHECK_FAILED, ReportedFailure } from './report-error';

interface AuditVerifyOptions {
  readonly dataDir?: string;
  readonly server?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly logKey?: string;
  readonly since?: string;
  readonly saveCheckpoint?: string;
  readonly witnessKeys?: string;
  readonly minCosignatures?: string;
  readonly json?: boolean;
}

export async function auditVerify(opts: AuditVerifyOptions): Promise<AuditReport> {
  if ((opts.dataDir === undefined) === (opts.server === undefined)) fail('BAD_ARGUMENT', 'give --data-dir DIR or --server URL (one of them)');
  const witnesses = opts.witnessKeys !== undefined ? parseWitnessKeys(readText(opts.witnessKeys, '--witness-keys'), opts.witnessKeys) : [];
  const minCosignatures = opts.minCosignatures !== undefined ? wholeNumber(opts.minCosignatures, '--min-cosignatures') : witnesses.length > 0 ? 1 : 0;
  if (minCosignatures > witnesses.length) fail('BAD_ARGUMENT', `--min-cosignatures ${minCosignatures} needs at least that many keys in --witness-keys (got ${witnesses.length})`);
  const kept = opts.since !== undefined ? readKeptCheckpoint(readText(opts.since, '--since'), opts.since, opts.server) : undefined;
  const opened: OpenedSource = opts.dataDir !== undefined ? dataDirSource(opts.dataDir) : await serverSource(opts.server!, resolveToken(opts));
  try {
    const logKey = opts.logKey ? parseVkey(opts.logKey) : kept?.logVkey ? parseVkey(kept.logVkey) : opened.logKey;
    const warnings =
      !opts.logKey && !kept
        ? [
            `the log key was read from the audited ${opts.dataDir !== undefined ? 'data dir (log.vkey)' : 'server (GET /log)'} itself, so a log rewritten and re-signed under a new key would pass: ` +
              'give --log-key, or --since a checkpoint saved earlier (--save-checkpoint) or a client\'s pins.json',
          ]
        : [];
    const report = await auditLog(opened.source, logKey, { witnesses, minCosignatures, ...(kept ? { since: kept.note } : {}), warnings });
    if (opts.saveCheckpoint !== undefined && report.ok && report.latest) writeFileSync(opts.saveCheckpoint, report.latest.note);
    return report;
  } finally {
    opened.close();
  }
}

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    return fail('IO', `cannot read ${flag} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function wholeNumber(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) fail('BAD_ARGUMENT', `${flag} takes a whole number, got "${text}"`);
  return Number(text);
}

function printReport(report: AuditReport): void {
  for (const w of report.warnings) process.stderr.write(`deeppowers: warning: ${w}\n`);
  if (report.ok) {
    const latest = report.latest ? `; latest checkpoint ${report.latest.size}, root ${report.latest.root}` : '';
    const cosigned = report.latest && report.latest.cosignedBy.length > 0 ? `, cosigned by ${report.latest.cosignedBy.length} witness${report.latest.cosignedBy.length === 1 ? '' : 'es'}` : '';
    const since = report.since ? `; consistent with the kept checkpoint ${report.since.size}` : '';
    process.stdout.write(`log verified: ${report.entries} entries, ${report.checkpoints} signed checkpoints${latest}${cosigned}${since}\n`);
    return;
  }
  process.stdout.write(`log FAILED verification (${report.entries} entries, ${report.checkpoints} checkpoints):\n`);
  for (const p of report.problems) process.stdout.write(`  ${p.message}\n`);
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description("check a deeppowers server's transparency log");
  audit
    .command('verify')
    .description(
      're-check the whole log: every entry against its leaf hash, every entry\'s attestations and quorum, every checkpoint signature ' +
        '(and that none is missing), every checkpoint root against the entries, and consistency between successive checkpoints; ' +
        'with --since, that the log still extends a checkpoint kept earlier; names any edited, removed or reordered entry or checkpoint (exit status 3)',
    )
    .option('--data-dir <dir>', "the server's data dir (reads log.sqlite and log.vkey there)")
    .option('--server <url>', 'a running server, e.g. http://127.0.0.1:8750/mcp (reads /log over HTTP)')
    .option('--token <token>', 'bearer token for --server (or --token-file, or DEEPPOWERS_TOKEN)')
    .option('--token-file <file>', 'file holding the bearer token')
    .option('--log-key <vkey>', 'the log key to trust (name+keyid+key), instead of the one the data dir or server names')
    .option(
      '--since <file>',
      'a checkpoint kept earlier: a file written by --save-checkpoint, or a client\'s KEYSTORE/pins.json (its log key is then trusted too); ' +
        'the log must still hold it and prove its latest checkpoint consistent with it',
    )
    .option('--save-checkpoint <file>', 'after a clean verification, write the latest signed checkpoint to FILE, for a later --since')
    .option('--witness-keys <file>', 'witness keys, one a line: C2SP vkeys, review nodes\' base64 Ed25519 public keys, or the operator\'s `serve --nodes` file (its review lines)')
    .option('--min-cosignatures <n>', 'cosignatures from --witness-keys the latest checkpoint must carry (default 1 when witness keys are given)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: AuditVerifyOptions) => {
      const report = await auditVerify(opts);
      if (opts.json) printJson(report);
      else printReport(report);
      if (!report.ok) {
        process.stderr.write(`deeppowers: error: the log failed verification: ${report.problems[0]!.message}\n`);
        throw new ReportedFailure(EXIT_CHECK_FAILED);
      }
    });
}
