import { Command } from 'commander';
import { auditVerify, type AuditVerifyOptions } from '../app/audit-verify';
import type { AuditReport } from '../network/audit';
import { resolveToken } from './client';
import { printJson } from './output';
import { EXIT_CHECK_FAILED, ReportedFailure } from './report-error';

type AuditVerifyCliOptions = Omit<AuditVerifyOptions, 'token'> & { readonly token?: string; readonly tokenFile?: string; readonly json?: boolean };

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
    .option(
      '--nodes <file>',
      "the operator's nodes file (`serve --nodes`; every list the server has used, concatenated): each entry's result must be a listed compute node's, and only listed review nodes count towards its quorum",
    )
    .option('--json', 'print the report as JSON')
    .action(async (opts: AuditVerifyCliOptions) => {
      const token = resolveToken(opts);
      const report = await auditVerify({ ...opts, ...(token !== undefined ? { token } : {}) });
      if (opts.json) printJson(report);
      else printReport(report);
      if (!report.ok) {
        process.stderr.write(`deeppowers: error: the log failed verification: ${report.problems[0]!.message}\n`);
        throw new ReportedFailure(EXIT_CHECK_FAILED);
      }
    });
}
