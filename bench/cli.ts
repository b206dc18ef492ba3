/**
 * The command line as a user meets it: `kms-reimport --help` as a whole process (bin/kms-reimport.js
 * as it is: wall time from spawn to exit, median), beside an empty `node -e ''` in the same run.
 * The peak RSS of `recover` comes from the recovery samples (bench/recovery.ts), which run
 * `kms-reimport recover` as whole processes. The CLI's prebuilt bundle is made fresh first; a
 * sample in which the CLI rebuilt it anyway (a source changed meanwhile) is taken again.
 */
import { cliRebuilt, median, progress, round, runProcess, warmCli } from './measure.js';

export interface CliFigures {
  samples: number;
  /** Samples taken again because the CLI rebuilt its bundle first (a source file changed meanwhile). */
  rebuilds: number;
  helpSeconds: number;
  helpPeakRssMiB: number;
  emptyNodeSeconds: number;
}

export async function benchCli(samples: number): Promise<CliFigures> {
  progress(`cli: kms-reimport --help, ${samples} samples`);
  const help: number[] = [];
  const empty: number[] = [];
  let peak = 0;
  const env = { ...process.env, NODE_NO_WARNINGS: '1' };
  await warmCli(env);
  let rebuilds = 0;
  for (let i = 0; i < samples; i++) {
    const run = await runProcess(process.execPath, ['bin/kms-reimport.js', '--help'], { env });
    if (run.status !== 0 || !/recover/.test(run.stdout)) throw new Error(`kms-reimport --help exited ${run.status}: ${run.stderr.slice(-1000)}`);
    if (cliRebuilt(run) && rebuilds < samples) {
      rebuilds++;
      i--;
      continue;
    }
    help.push(run.wallMs);
    peak = Math.max(peak, run.peakRssMiB);
    empty.push((await runProcess(process.execPath, ['-e', ''], { env })).wallMs);
  }
  return { samples, rebuilds, helpSeconds: round(median(help) / 1000, 3), helpPeakRssMiB: peak, emptyNodeSeconds: round(median(empty) / 1000, 3) };
}
