// A worker thread's entry: workers start without the loader the CLI (or vitest) runs TypeScript
// with, so this plain module registers tsx and then loads the worker itself.
const { register } = await import('tsx/esm/api');
register();
await import('./worker-thread.ts');
