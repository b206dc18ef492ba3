/**
 * The sweep as its own process (so that its peak memory is the sweep's, not the emulator's):
 *   node --import tsx bench/sweep-child.ts <endpoint-url>
 * runs lib's sweepManagedKeys against the endpoint with the default configuration and prints one
 * JSON line: elapsed ms, peak RSS, and each reported key's ID, classification, action, escrow
 * health and error name.
 */
import { createClients, createTaggingClient } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { sweepManagedKeys } from '../lib/sweep.js';
import { CREDENTIALS, REGION } from './measure.js';

const endpointUrl = process.argv[2];
if (!endpointUrl) {
  console.error('usage: node --import tsx bench/sweep-child.ts <endpoint-url>');
  process.exit(2);
}
const options = { endpointUrl, region: REGION, credentials: CREDENTIALS };
const clients = createClients(options);
const tagging = createTaggingClient(options);
const config = loadConfig(process.env);
const started = performance.now();
const result = await sweepManagedKeys({ tagging, kms: clients.kms, secrets: clients.secrets }, config, new Date());
const elapsedMs = performance.now() - started;
tagging.destroy();
clients.kms.destroy();
clients.secrets.destroy();
const entries = result.report.map((e) => [e.keyId, e.classification ?? '', e.action, e.escrow ?? '', e.errorName ?? '']);
process.stdout.write(`${JSON.stringify({ elapsedMs, peakRssKiB: process.resourceUsage().maxRSS, entries })}\n`);
