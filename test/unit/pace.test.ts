import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptivePace, importPaces, PUBLISHED_IMPORT_RATE, PUBLISHED_PARAMETERS_RATE, sendPaced } from '../../lib/pace.js';
import { Controls } from '../../local/controls.js';
import { ServiceError } from '../../local/service.js';

/** A clock that only moves when the pace sleeps (or the test says so): no real waiting. */
function virtualClock() {
  const clock = { now: 0, sleeps: [] as number[] };
  return {
    clock,
    timing: {
      now: () => clock.now,
      sleep: async (ms: number) => {
        clock.sleeps.push(ms);
        clock.now += ms;
      },
    },
  };
}

const throttling = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

describe('AdaptivePace', () => {
  test('hands out slots in call order, 1/rate apart; the first at once', async () => {
    const { clock, timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 4, ...timing });
    const granted: number[] = [];
    for (let i = 0; i < 4; i++) granted.push((await pace.acquire()).grantedAt);
    assert.deepEqual(granted, [0, 250, 500, 750]);
    assert.deepEqual(clock.sleeps, [250, 250, 250]);
    clock.now += 2000; // idle: no saved-up burst, the next slot is now
    assert.equal((await pace.acquire()).grantedAt, 2750);
    assert.equal(pace.stats.granted, 5);
    assert.equal(pace.stats.waitedMs, 750);
  });

  test('concurrent callers are served one slot each, in order', async () => {
    const { timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 2, ...timing });
    const tickets = await Promise.all([pace.acquire(), pace.acquire(), pace.acquire()]);
    assert.deepEqual(tickets.map((t) => t.grantedAt), [0, 500, 1000]);
  });

  test('a timer that fires late never brings two handovers closer than the interval; slots reserved before a decrease wait for the new interval; a rate over 1000/s is not held to one slot per timer', async () => {
    const clock = { now: 0, late: 60 };
    // The first timer fires 60 ms late (a busy event loop); the others on time.
    const sleep = async (ms: number) => {
      clock.now += ms + clock.late;
      clock.late = 0;
    };
    const pace = new AdaptivePace({ rate: 5, now: () => clock.now, sleep });
    const granted = (await Promise.all([pace.acquire(), pace.acquire(), pace.acquire()])).map((t) => t.grantedAt);
    assert.deepEqual(granted, [0, 260, 460], 'in call order; the third a whole interval after the late second, not at its 400 ms slot');

    const virtual = virtualClock();
    const slower = new AdaptivePace({ rate: 10, ...virtual.timing });
    const first = slower.acquire();
    const later = [slower.acquire(), slower.acquire()];
    slower.throttled(await first); // 9.5/s now
    const [second, third] = await Promise.all(later);
    // 105.3 ms apart at 9.5/s, not the 100 ms they were reserved at.
    assert.ok(Math.abs(second!.grantedAt - 1000 / 9.5) < 1e-9, `${second!.grantedAt}`);
    assert.ok(Math.abs(third!.grantedAt - second!.grantedAt - 1000 / 9.5) < 1e-9, `${third!.grantedAt}`);

    // 2000/s (DescribeKey's quota): the slots keep their 0.5 ms schedule; a timer that fired 1 ms late
    // is not made up for by a wait shorter than a timer can keep.
    const fast = { now: 0, late: 1 };
    const fastSleeps: number[] = [];
    const quick = new AdaptivePace({
      rate: 2000,
      now: () => fast.now,
      sleep: async (ms) => {
        fastSleeps.push(ms);
        fast.now += ms + fast.late;
        fast.late = 0;
      },
    });
    const handed = (await Promise.all([quick.acquire(), quick.acquire(), quick.acquire(), quick.acquire()])).map((t) => t.grantedAt);
    assert.deepEqual(handed, [0, 1.5, 1.5, 1.5], 'the second 1 ms late, the next two at once (their slots, 1 and 1.5 ms, have passed)');
    assert.deepEqual(fastSleeps, [0.5]);
  });

  test('throttles step back gently; three rounds in a row with no success between multiply the rate by the decrease, and free the next interval', async () => {
    const { clock, timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 10, ...timing });
    const first = await pace.acquire();
    const second = await pace.acquire();
    pace.throttled(second);
    assert.equal(pace.rate, 9.5, 'the first throttle: the edge of the quota, 95% of the rate it was sent at');
    assert.equal(pace.ceiling, 10);
    // `first` was reserved before that decrease: its throttle is the same round, not another decrease.
    pace.throttled(first);
    assert.equal(pace.rate, 9.5);
    assert.equal(pace.stats.throttled, 2);
    assert.equal(pace.stats.decreases, 1);
    // A second round with no success between: still gentle (a burst of runs can meet the edge twice).
    const third = await pace.acquire();
    pace.throttled(third);
    assert.ok(Math.abs(pace.rate - 9.025) < 1e-9, `${pace.rate}`);
    // A third round in a row: well over the quota, x0.7.
    const fourth = await pace.acquire();
    const throttledAt = clock.now;
    pace.throttled(fourth);
    assert.ok(Math.abs(pace.rate - 9.025 * 0.7) < 1e-9, `${pace.rate}`);
    assert.equal(pace.ceiling, 9.025);
    assert.equal(pace.stats.decreases, 3);
    const next = await pace.acquire();
    assert.ok(next.grantedAt >= throttledAt + 1000 / (9.025 * 0.7) - 1e-9, `next slot at ${next.grantedAt}, throttled at ${throttledAt}`);
  });

  test('slots reserved before a decrease are that round, even when they are sent after it', async () => {
    const { clock, timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 10, ...timing });
    const first = await pace.acquire(); // reserved and sent at 0 ms
    // Another run reserved the slot at 100 ms at the same moment, and is still waiting for it.
    const waiting = { reservedAt: 0, grantedAt: 100, rate: 10 };
    clock.now = 50;
    pace.throttled(first);
    assert.equal(pace.rate, 9.5);
    clock.now = 120;
    pace.throttled(waiting); // sent at 100 ms, after the decrease, but reserved at the old rate
    assert.equal(pace.stats.decreases, 1);
    assert.equal(pace.rate, 9.5);
    // A slot reserved after the decrease is a new round.
    const later = await pace.acquire();
    pace.throttled(later);
    assert.equal(pace.stats.decreases, 2);
  });

  test('never below minRate', async () => {
    const { timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 1, minRate: 0.5, ...timing });
    for (let i = 0; i < 5; i++) pace.throttled(await pace.acquire());
    assert.equal(pace.rate, 0.5);
  });

  test('creeps back up: quickly to 95% of the ceiling, then slowly, never past maxRate', async () => {
    const { timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 10, ...timing });
    for (let i = 0; i < 3; i++) pace.throttled(await pace.acquire()); // 9.5, 9.025, then x0.7: 6.3175, ceiling 9.025
    assert.ok(Math.abs(pace.rate - 6.3175) < 1e-9, `${pace.rate}`);
    const rates: number[] = [];
    for (let i = 0; i < 4; i++) {
      pace.succeeded(await pace.acquire());
      rates.push(Number(pace.rate.toFixed(4)));
    }
    assert.deepEqual(rates, [7.22, 8.1225, 8.5738, 8.5828], 'a tenth of the ceiling per success up to 95% of it, then 0.1% of it');
    for (let i = 0; i < 2000; i++) pace.succeeded(await pace.acquire());
    assert.equal(pace.rate, 10, 'capped at maxRate (the starting rate)');
  });

  test('after a run of successes (3 or more), or at a rate a run went through, a throttle steps back gently even in a row', async () => {
    const { clock, timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 1, maxRate: 2, ...timing });
    for (let i = 0; i < 3; i++) pace.throttled(await pace.acquire()); // 0.95, 0.9025, then x0.7
    assert.ok(Math.abs(pace.rate - 0.9025 * 0.7) < 1e-9, `${pace.rate}`);
    // Three successes: a run at these rates; the next throttle steps back gently.
    for (let i = 0; i < 3; i++) pace.succeeded(await pace.acquire());
    let ticket = await pace.acquire();
    pace.throttled(ticket);
    assert.ok(Math.abs(pace.rate - ticket.rate * 0.95) < 1e-9, `${ticket.rate} -> ${pace.rate}`);
    ticket = await pace.acquire();
    pace.throttled(ticket); // two in a row: gentle
    assert.ok(Math.abs(pace.rate - ticket.rate * 0.95) < 1e-9, `${ticket.rate} -> ${pace.rate}`);
    // A third in a row, of a request sent at a rate the run went through (0.7/s): still gentle
    // (jitter in when requests reach the quota, not a rate well over it).
    pace.throttled({ reservedAt: clock.now, grantedAt: clock.now, rate: 0.7 });
    assert.ok(Math.abs(pace.rate - 0.7 * 0.95) < 1e-9, `0.7 -> ${pace.rate}`);
    // The same at a rate no run went through: x0.7.
    pace.throttled({ reservedAt: clock.now, grantedAt: clock.now, rate: 0.9 });
    assert.ok(Math.abs(pace.rate - 0.9 * 0.7) < 1e-9, `0.9 -> ${pace.rate}`);
  });

  test('well over the quota (every other attempt throttled): jumps to the rate of the shortest gap between two answers, then climbs 5% per three successes; a throttled step goes back', async () => {
    const { timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 10, ...timing });
    const answeredAt: number[] = [];
    for (let i = 0; i < 6; i++) {
      const ticket = await pace.acquire();
      if (i % 2 === 0) {
        pace.succeeded(ticket);
        answeredAt.push(ticket.grantedAt);
      } else pace.throttled(ticket);
    }
    // Three answers, three throttles: over the quota. 0 ms, ~205 ms, ~415 ms: the shortest gap says
    // the quota took at least one request per ~205 ms.
    const shortestGap = Math.min(answeredAt[1]! - answeredAt[0]!, answeredAt[2]! - answeredAt[1]!);
    assert.equal(pace.stats.jumps, 1);
    assert.equal(pace.stats.decreases, 3, 'two gentle steps, then the jump');
    assert.ok(Math.abs(pace.rate - 1000 / shortestGap) < 1e-9, `${pace.rate} vs ${1000 / shortestGap}`);
    assert.equal(pace.ceiling, pace.rate);
    const jumpedTo = pace.rate;
    // The climb: three successes at the rate confirm it, then 5% up.
    for (let i = 0; i < 3; i++) pace.succeeded(await pace.acquire());
    assert.ok(Math.abs(pace.rate - jumpedTo * 1.05) < 1e-9, `${pace.rate}`);
    // The step is throttled: back to the confirmed rate; the step is the ceiling.
    pace.throttled(await pace.acquire());
    assert.equal(pace.rate, jumpedTo);
    assert.ok(Math.abs(pace.ceiling! - jumpedTo * 1.05) < 1e-9);
    assert.equal(pace.stats.jumps, 1);
  });

  test('a throttle now and then between runs of successes (the quota edge, jitter) is never a jump', async () => {
    const { timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 10, ...timing });
    for (let i = 0; i < 40; i++) {
      const ticket = await pace.acquire();
      if (i % 4 === 3) pace.throttled(ticket);
      else pace.succeeded(ticket);
    }
    assert.equal(pace.stats.jumps, 0);
    assert.equal(pace.stats.decreases, 10);
    // Two throttles in a row with answers between them are not enough either.
    const other = new AdaptivePace({ rate: 10, ...timing });
    for (const ok of [true, false, true, false, true, true, true]) {
      const ticket = await other.acquire();
      if (ok) other.succeeded(ticket);
      else other.throttled(ticket);
    }
    assert.equal(other.stats.jumps, 0);
  });

  test('refuses a rate that is not positive, and inconsistent bounds', () => {
    assert.throws(() => new AdaptivePace({ rate: 0 }), RangeError);
    assert.throws(() => new AdaptivePace({ rate: Number.NaN }), RangeError);
    assert.throws(() => new AdaptivePace({ rate: 1, maxRate: 0.5 }), RangeError);
    assert.throws(() => new AdaptivePace({ rate: 1, decrease: 1 }), RangeError);
  });

  test('importPaces starts at the configured rates, by default the current published quotas', () => {
    const defaults = importPaces({});
    assert.equal(defaults.GetParametersForImport.rate, PUBLISHED_PARAMETERS_RATE);
    assert.equal(defaults.ImportKeyMaterial.rate, PUBLISHED_IMPORT_RATE);
    assert.equal(PUBLISHED_PARAMETERS_RATE, 1);
    assert.equal(PUBLISHED_IMPORT_RATE, 15);
    const configured = importPaces({ parametersRate: 0.25, importRate: 5 });
    assert.equal(configured.GetParametersForImport.rate, 0.25);
    assert.equal(configured.ImportKeyMaterial.rate, 5);
  });
});

describe('sendPaced', () => {
  test('a throttled request is sent again in a later slot; the pace hears of both', async () => {
    const { timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 4, ...timing });
    let calls = 0;
    const out = await sendPaced(pace, async () => {
      calls++;
      if (calls < 3) throw throttling();
      return 'ok';
    });
    assert.equal(out, 'ok');
    assert.equal(calls, 3);
    assert.equal(pace.stats.throttled, 2);
    assert.equal(pace.stats.granted, 3);
  });

  test('gives up after throttleRetries, throwing the throttling error; any other error at once, without feedback', async () => {
    const { timing } = virtualClock();
    const pace = new AdaptivePace({ rate: 4, ...timing });
    let calls = 0;
    await assert.rejects(
      sendPaced(
        pace,
        async () => {
          calls++;
          throw throttling();
        },
        2,
      ),
      { name: 'ThrottlingException' },
    );
    assert.equal(calls, 3);
    const other = new AdaptivePace({ rate: 4, ...timing });
    await assert.rejects(
      sendPaced(other, async () => {
        throw Object.assign(new Error('no'), { name: 'AccessDeniedException' });
      }),
      { name: 'AccessDeniedException' },
    );
    assert.equal(other.stats.throttled, 0);
    assert.equal(other.rate, 4);
  });
});

describe('AdaptivePace against a quota (the local endpoint token bucket, on the same virtual clock)', () => {
  /**
   * N requests one after another through the pace to an endpoint bucket of `quota` per second
   * (burst 1 unless told: a strict bucket, one request per 1/quota s; `burst: quota` is KMS's
   * documented per-second counting, a second's worth at once), each taking 20 ms on the way there
   * and 20 ms back, plus `jitterMs` of deterministic noise on the way there. Returns the virtual
   * seconds taken, the pace, and the rate after every answered request with the time it was answered.
   */
  async function simulate(start: number, quota: number, n: number, jitterMs: number, options: { burst?: number; maxRate?: number } = {}) {
    const { clock, timing } = virtualClock();
    let seed = 7;
    const noise = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const controls = new Controls({ quotas: { 'kms:GetParametersForImport': { rate: quota, burst: options.burst ?? 1 } }, monotonicNow: () => clock.now });
    const pace = new AdaptivePace({ rate: start, ...(options.maxRate !== undefined ? { maxRate: options.maxRate } : {}), ...timing });
    const rates: { at: number; rate: number; jumps: number }[] = [];
    const scope = { account: '111122223333', region: 'us-east-1' };
    let answered = 0;
    for (let i = 0; i < n; i++) {
      await sendPaced(
        pace,
        async () => {
          clock.now += 20 + noise() * jitterMs;
          const { error } = await controls.admit('kms', 'GetParametersForImport', scope, () => new ServiceError('ThrottlingException', 'Rate exceeded'));
          clock.now += 20;
          if (error) throw throttling();
          answered++;
        },
        50,
      );
      rates.push({ at: clock.now, rate: pace.rate, jumps: pace.stats.jumps });
    }
    return { seconds: clock.now / 1000, pace, answered, rates, throttled: controls.getCounters()['kms:GetParametersForImport']?.throttled ?? 0 };
  }

  test('a quota below the starting rate: every request answered, throttles observed and recovered from, within 1.1 x N / quota', async () => {
    for (const [start, quota] of [
      [4, 1],
      [1, 0.25],
    ] as const) {
      const n = 200;
      const { seconds, pace, answered, throttled } = await simulate(start, quota, n, 20);
      assert.equal(answered, n);
      assert.ok(throttled > 0 && pace.stats.throttled === throttled, `throttles seen: ${throttled}`);
      assert.ok(pace.rate < start && pace.rate > quota * 0.8, `settled near the quota: ${pace.rate}`);
      assert.ok(seconds <= (1.1 * n) / quota, `${n} requests at ${quota}/s took ${seconds.toFixed(1)} virtual s (quota minimum ${n / quota} s)`);
    }
  });

  test('the starting rate equal to the quota and no noise: never throttled, at the quota', async () => {
    const { seconds, throttled } = await simulate(1, 1, 100, 0);
    assert.equal(throttled, 0);
    assert.ok(seconds <= 100, `${seconds}`);
  });

  test('from 2x and 4x the quota (a strict bucket): one jump to what the quota accepted, within 5 s at 1/s, then settled in [0.9, 1] x quota; 40 keys within 1.1 x N / quota', async () => {
    // The published GetParametersForImport quota (1/s), a pace configured 2x and 4x too high; 20 ms of jitter.
    // Stepping down 5% per round of throttling (the rule before the jump) took 1.19 x N / quota here:
    // between the quota and twice it a strict bucket answers every other request.
    for (const start of [2, 4]) {
      const quota = 1;
      const n = 40;
      const { seconds, pace, answered, rates } = await simulate(start, quota, n, 20);
      assert.equal(answered, n);
      assert.equal(pace.stats.jumps, 1, `one jump from ${start}/s`);
      const jumped = rates.find((r) => r.jumps === 1)!;
      assert.ok(jumped.at <= 5000 / quota, `jumped by ${jumped.at} ms (the first answer after it)`);
      assert.ok(jumped.rate >= 0.85 * quota && jumped.rate <= quota, `jumped to ${jumped.rate}/s`);
      for (const r of rates.filter((x) => x.jumps === 1)) assert.ok(r.rate >= 0.85 * quota && r.rate <= 1.06 * quota, `after the jump: ${r.rate}/s at ${r.at} ms`);
      assert.ok(pace.rate >= 0.9 * quota && pace.rate <= quota, `settled at ${pace.rate}/s`);
      assert.ok(seconds <= (1.1 * n) / quota, `${n} requests at ${quota}/s from ${start}/s took ${seconds.toFixed(1)} virtual s (quota minimum ${n / quota} s)`);
    }
  });

  test('from 2x and 4x the quota at 5/s (the benchmark): within 1.1 x N / quota; same from the quota itself, with no throttle and no jump', async () => {
    for (const start of [5, 10, 20]) {
      const { seconds, pace, answered } = await simulate(start, 5, 40, 0);
      assert.equal(answered, 40);
      assert.equal(pace.stats.jumps, start === 5 ? 0 : 1);
      if (start === 5) assert.equal(pace.stats.throttled, 0);
      assert.ok(seconds <= (1.1 * 40) / 5, `from ${start}/s: ${seconds.toFixed(2)} virtual s (quota minimum 8 s)`);
    }
  });

  test('from 1.5x and 2.5x the quota, where a strict bucket leaves the quota ambiguous: the climb after the jump gets back near the quota, within 1.2 x N / quota (as the 5% steps down did)', async () => {
    // At 1.5/s against 1/s every other request goes through: the quota could be anything from 0.75/s
    // to 1.5/s. The jump takes the least (0.75/s); the climb confirms 5% steps up from there.
    for (const start of [1.5, 2.5]) {
      const { seconds, pace, answered } = await simulate(start, 1, 40, 20);
      assert.equal(answered, 40);
      assert.ok(pace.rate >= 0.9 && pace.rate <= 1, `settled at ${pace.rate}/s from ${start}/s`);
      assert.ok(seconds <= 1.2 * 40, `from ${start}/s: ${seconds.toFixed(1)} virtual s`);
    }
  });

  test("KMS's per-second counting (a second's worth of requests at once): from 2x and 4x the quota, no run slower than N / quota + 10%", async () => {
    for (const start of [10, 20]) {
      const { seconds, answered } = await simulate(start, 5, 40, 20, { burst: 5 });
      assert.equal(answered, 40);
      assert.ok(seconds <= (1.1 * 40) / 5, `from ${start}/s: ${seconds.toFixed(2)} virtual s`);
    }
  });

  test('a quota higher than the start: creeps up to it (maxRate above it), never jumps, and settles just under it', async () => {
    // Starts at half the quota, allowed up to twice it.
    const { pace, answered, rates } = await simulate(0.5, 1, 60, 20, { maxRate: 2 });
    assert.equal(answered, 60);
    assert.ok(rates.some((r) => r.rate > 0.5), 'went past the starting rate');
    assert.ok(pace.rate >= 0.9 && pace.rate <= 1.05, `settled at ${pace.rate}/s`);
    assert.ok(pace.stats.throttled > 0 && pace.stats.throttled <= 10, `found the quota by ${pace.stats.throttled} throttles`);
    // The same pace without room above its start stays there, never throttled.
    const capped = await simulate(0.5, 1, 10, 20);
    assert.equal(capped.throttled, 0);
    assert.equal(capped.pace.rate, 0.5);
  });
});
