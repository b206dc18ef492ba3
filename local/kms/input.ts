// Reading members of an already-parsed awsJson1_1 request body, with KMS's validation errors.
import { kmsError, validationError } from './errors.js';

export type Input = Record<string, unknown>;

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function shown(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return `'${value.length > 64 ? `${value.slice(0, 64)}...` : value}'`;
  return `'${JSON.stringify(value)?.slice(0, 64)}'`;
}

export function optionalString(input: Input, name: string, opts: { min?: number; max?: number } = {}): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw validationError(lowerFirst(name), shown(value), 'Member must be a string');
  }
  const min = opts.min ?? 1;
  if (value.length < min) {
    throw validationError(lowerFirst(name), shown(value), `Member must have length greater than or equal to ${min}`);
  }
  if (opts.max !== undefined && value.length > opts.max) {
    throw validationError(lowerFirst(name), shown(value), `Member must have length less than or equal to ${opts.max}`);
  }
  return value;
}

export function requiredString(input: Input, name: string, opts: { min?: number; max?: number } = {}): string {
  const value = optionalString(input, name, opts);
  if (value === undefined) throw validationError(lowerFirst(name), 'null', 'Member must not be null');
  return value;
}

export function optionalEnum<T extends string>(input: Input, name: string, allowed: readonly T[]): T | undefined {
  const value = optionalString(input, name);
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw validationError(lowerFirst(name), shown(value), `Member must satisfy enum value set: [${allowed.join(', ')}]`);
  }
  return value as T;
}

export function requiredEnum<T extends string>(input: Input, name: string, allowed: readonly T[]): T {
  const value = optionalEnum(input, name, allowed);
  if (value === undefined) throw validationError(lowerFirst(name), 'null', 'Member must not be null');
  return value;
}

export function optionalInteger(input: Input, name: string, min: number, max: number): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw validationError(lowerFirst(name), shown(value), 'Member must be an integer');
  }
  if (value < min) throw validationError(lowerFirst(name), shown(value), `Member must have value greater than or equal to ${min}`);
  if (value > max) throw validationError(lowerFirst(name), shown(value), `Member must have value less than or equal to ${max}`);
  return value;
}

export function optionalBoolean(input: Input, name: string): boolean | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw validationError(lowerFirst(name), shown(value), 'Member must be a boolean');
  return value;
}

/** A blob member: base64 text in JSON. */
export function optionalBlob(input: Input, name: string, opts: { min?: number; max?: number } = {}): Buffer | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 === 1) {
    throw kmsError('ValidationException', `Value at '${lowerFirst(name)}' is not valid base64 text`);
  }
  const bytes = Buffer.from(value, 'base64');
  const min = opts.min ?? 1;
  if (bytes.length < min) {
    throw validationError(lowerFirst(name), `of ${bytes.length} bytes`, `Member must have length greater than or equal to ${min}`);
  }
  if (opts.max !== undefined && bytes.length > opts.max) {
    throw validationError(lowerFirst(name), `of ${bytes.length} bytes`, `Member must have length less than or equal to ${opts.max}`);
  }
  return bytes;
}

export function requiredBlob(input: Input, name: string, opts: { min?: number; max?: number } = {}): Buffer {
  const value = optionalBlob(input, name, opts);
  if (value === undefined) throw validationError(lowerFirst(name), 'null', 'Member must not be null');
  return value;
}

/** A timestamp member: epoch seconds (possibly fractional) as the SDKs send it, or ISO 8601 text. Returns epoch ms. */
export function optionalTimestamp(input: Input, name: string): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return Math.round(value * 1000);
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  throw validationError(lowerFirst(name), shown(value), 'Member must be a timestamp (epoch seconds)');
}

/** A map<string,string> member such as EncryptionContext. */
export function optionalStringMap(input: Input, name: string): Record<string, string> | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw validationError(lowerFirst(name), shown(value), 'Member must be a map of strings');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw validationError(`${lowerFirst(name)}.${k}`, shown(v), 'Member must be a string');
    out[k] = v;
  }
  return out;
}

export interface TagInput {
  TagKey: string;
  TagValue: string;
}

export function optionalTags(input: Input, name: string): TagInput[] | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw validationError(lowerFirst(name), shown(value), 'Member must be a list');
  return value.map((entry: unknown, i) => {
    if (typeof entry !== 'object' || entry === null) {
      throw validationError(`${lowerFirst(name)}.${i + 1}`, shown(entry), 'Member must be a structure');
    }
    const tag = entry as Input;
    const key = requiredString(tag, 'TagKey', { max: 128 });
    const tagValue = tag['TagValue'];
    if (typeof tagValue !== 'string') {
      throw validationError(`${lowerFirst(name)}.${i + 1}.member.tagValue`, shown(tagValue), 'Member must not be null');
    }
    if (tagValue.length > 256) {
      throw validationError(`${lowerFirst(name)}.${i + 1}.member.tagValue`, shown(tagValue), 'Member must have length less than or equal to 256');
    }
    return { TagKey: key, TagValue: tagValue };
  });
}

export function optionalStringList(input: Input, name: string): string[] | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw validationError(lowerFirst(name), shown(value), 'Member must be a list of strings');
  }
  return value as string[];
}
