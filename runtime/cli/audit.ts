import { Command } from 'commander';
import { fail } from '../../compiler/errors';
import { auditLog, type AuditReport } from '../network/audit';
import { dataDirSource, serverSource, type OpenedSource } from '../network/audit-sources';
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
  readonly json?: boolean;
}

export async function auditVerify(opts: AuditVerifyOptions): Promise<AuditReport> {
  if ((opts.dataDir === undefined) === (opts.server === undefined)) fail('BAD_ARGUMENT', 'give --data-dir DIR or --server URL (one of them)');
  const opened: OpenedSource = opts.dataDir !== undefined ? dataDirSource(opts.dataDir) : await serverSource(opts.server!, resolveToken(opts));
  try {
    const logKey = opts.logKey ? parseVkey(opts.logKey) : opened.logKey;
    return await auditLog(opened.source, logKey);
  } finally {
    opened.close();
  }
}

function printReport(report: AuditReport): void {
  if (report.ok) {
    const latest = report.latest ? `; latest checkpoint ${report.latest.size}, root ${report.latest.root}` : '';
    process.stdout.write(`log verified: ${report.entries} entries, ${report.checkpoints} signed checkpoints${latest}\n`);
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
      're-check the whole log: every entry against its leaf hash, every checkpoint signature, every checkpoint root against the entries, ' +
        'and consistency between successive checkpoints; names any edited, removed or reordered entry (exit status 3)',
    )
    .option('--data-dir <dir>', "the server's data dir (reads log.sqlite and log.vkey there)")
    .option('--server <url>', 'a running server, e.g. http://127.0.0.1:8750/mcp (reads /log over HTTP)')
    .option('--token <token>', 'bearer token for --server (or --token-file, or DEEPPOWERS_TOKEN)')
    .option('--token-file <file>', 'file holding the bearer token')
    .option('--log-key <vkey>', 'the log key to trust (name+keyid+key), instead of the one the data dir or server names')
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
