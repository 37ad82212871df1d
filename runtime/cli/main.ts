// The `deeppowers` entry point (bin/deeppowers.js imports this file).
import { main } from './program';

process.exitCode = await main(process.argv.slice(2));
