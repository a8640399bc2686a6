/**
 * Ends the process with `code` once everything written to stdout and stderr has reached them.
 * process.exit() alone drops what a pipe has not taken yet (Node queues writes a pipe cannot take
 * at once; a pipe holds 64 KiB), so `ctl dump | jq` would read cut JSON. An empty write calls back
 * after every write before it; exiting then still ends a process that handles keep alive.
 */
export function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    // A closed reader (`| head`) makes a write fail: nothing more can arrive there anyway.
    if (stream.destroyed || stream.writableEnded) done();
    else stream.write('', () => done());
  }
}
