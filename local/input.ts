/**
 * Reading fields of an already-parsed JSON request, with errors in the calling service's shape.
 * The server only guarantees that the input is a JSON object; every field is checked here.
 */
import { ServiceError } from './service.js';

export class InputReader {
  constructor(
    private readonly input: Record<string, unknown>,
    /** The exception name for a missing or ill-typed field (`InvalidParameterException`, `ValidationException`). */
    private readonly errorType: string,
  ) {}

  private fail(message: string): never {
    throw new ServiceError(this.errorType, message);
  }

  has(field: string): boolean {
    return this.input[field] !== undefined && this.input[field] !== null;
  }

  optionalString(field: string, { min = 0, max = Infinity }: { min?: number; max?: number } = {}): string | undefined {
    const value = this.input[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') this.fail(`${field} must be a string, got ${describe(value)}.`);
    if (value.length < min || value.length > max) {
      this.fail(`${field} must be ${max === Infinity ? `at least ${min}` : `${min} to ${max}`} characters long, got ${value.length}.`);
    }
    return value;
  }

  string(field: string, limits: { min?: number; max?: number } = {}): string {
    const value = this.optionalString(field, { min: 1, ...limits });
    if (value === undefined) this.fail(`${field} is required.`);
    return value;
  }

  optionalInteger(field: string, { min = -Infinity, max = Infinity }: { min?: number; max?: number } = {}): number | undefined {
    const value = this.input[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) this.fail(`${field} must be an integer, got ${describe(value)}.`);
    if (value < min || value > max) this.fail(`${field} must be between ${min} and ${max}, got ${value}.`);
    return value;
  }

  optionalBoolean(field: string): boolean | undefined {
    const value = this.input[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') this.fail(`${field} must be a boolean, got ${describe(value)}.`);
    return value;
  }

  /** A blob: base64 text in JSON. Returns the decoded bytes. */
  optionalBlob(field: string, { max = Infinity }: { max?: number } = {}): Buffer | undefined {
    const value = this.input[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') this.fail(`${field} must be base64 text in JSON, got ${describe(value)}.`);
    const compact = value.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) this.fail(`${field} is not valid base64.`);
    const bytes = Buffer.from(compact, 'base64');
    if (bytes.length > max) this.fail(`${field} must be at most ${max} bytes, got ${bytes.length}.`);
    return bytes;
  }

  optionalStringList(field: string, { maxItems = Infinity, maxLength = Infinity }: { maxItems?: number; maxLength?: number } = {}): string[] | undefined {
    const value = this.input[field];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) this.fail(`${field} must be a list of strings.`);
    if (value.length > maxItems) this.fail(`${field} can hold at most ${maxItems} items, got ${value.length}.`);
    const long = (value as string[]).find((item) => item.length === 0 || item.length > maxLength);
    if (long !== undefined) this.fail(`Each item of ${field} must be 1 to ${maxLength} characters long.`);
    return value as string[];
  }

  /** A list of objects; each item is handed to `read` with its own reader. */
  optionalList<T>(field: string, read: (item: InputReader, index: number) => T, { maxItems = Infinity }: { maxItems?: number } = {}): T[] | undefined {
    const value = this.input[field];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) this.fail(`${field} must be a list, got ${describe(value)}.`);
    if (value.length > maxItems) this.fail(`${field} can hold at most ${maxItems} items, got ${value.length}.`);
    return value.map((item, index) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) this.fail(`${field}[${index}] must be an object, got ${describe(item)}.`);
      return read(new InputReader(item as Record<string, unknown>, this.errorType), index);
    });
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

/** Epoch milliseconds as the JSON protocols send timestamps: epoch seconds. */
export function epochSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}
