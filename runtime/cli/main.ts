// The `deeppowers` entry point (bin/deeppowers.js imports this file).
import { main } from './program';

// A reader that stops early (`deeppowers demo | head`) is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
