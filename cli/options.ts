import { InvalidArgumentError, Option } from 'commander';

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return n;
}

export const endpointOption = (): Option =>
  new Option('--endpoint-url <url>', 'KMS and Secrets Manager endpoint (default: the SDK configuration: AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KMS, ...)');

export const regionOption = (): Option => new Option('--region <region>', 'AWS Region (default: the SDK configuration)');
