/**
 * A one-line progress indicator on stderr for long steps (key generation, encrypted runs).
 * It writes only when stderr is a terminal, so piped and --json output stays clean.
 */
export interface Progress {
  update(done: number): void;
  finish(): void;
}

export function startProgress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, finish() {} };
  const started = Date.now();
  let lastDraw = 0;
  const draw = (done: number) => {
    const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    stream.write(`\r${label}: ${done}/${total} (${pct}%) ${secs}s\x1b[K`);
  };
  return {
    update(done) {
      // Redraw at most ten times a second: terminals are slow compared with small steps.
      const now = Date.now();
      if (now - lastDraw < 100 && done < total) return;
      lastDraw = now;
      draw(done);
    },
    finish() {
      draw(total);
      stream.write('\n');
    },
  };
}
