import { status, type ServiceError } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { ModelError } from '../models/model-manager.js';
import { SessionError } from '../sessions/session-store.js';

/** A gRPC error with a precise status; `details` is what the client sees as the message. */
export function grpcError(code: status, message: string): Partial<ServiceError> {
  return { code, details: message, message, metadata: new Metadata() };
}

export class InputError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/** Maps the worker's own errors to gRPC statuses; anything else is INTERNAL. */
export function toGrpcError(err: unknown): Partial<ServiceError> {
  if (err instanceof InputError) return grpcError(err.code, err.message);
  if (err instanceof SessionError) {
    const code = { not_found: status.NOT_FOUND, exists: status.ALREADY_EXISTS, capacity: status.RESOURCE_EXHAUSTED }[err.code];
    return grpcError(code, err.message);
  }
  if (err instanceof ModelError) {
    const code = {
      not_found: status.NOT_FOUND,
      in_use: status.FAILED_PRECONDITION,
      load_failed: status.UNAVAILABLE,
      capacity: status.RESOURCE_EXHAUSTED,
    }[err.code];
    return grpcError(code, err.message);
  }
  if (err instanceof RangeError) return grpcError(status.INVALID_ARGUMENT, err.message);
  return grpcError(status.INTERNAL, `internal error: ${(err as Error)?.message ?? String(err)}`);
}
