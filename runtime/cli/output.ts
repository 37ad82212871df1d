/** stdout writers shared by the commands: JSON is always one object followed by a newline. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
