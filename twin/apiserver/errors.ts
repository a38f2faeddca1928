// Errors as the real apiserver reports them: a metav1.Status body with reason, details and code.
export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  /** `why`: what the twin knows but kube-apiserver does not say (for logs; not in the Status). */
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    readonly headers: Record<string, string> = {},
    readonly why?: string,
  ) {
    super(message);
  }

  toStatus(): Status {
    // Field order as the real apiserver writes it.
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** `pods` or `deployments.apps`, the qualified resource name used in messages. */
export function qualifiedResource(group: string, resource: string): string {
  return group ? `${resource}.${group}` : resource;
}

function details(group: string, resource: string, name: string): StatusDetails {
  const d: StatusDetails = { ...(name ? { name } : {}), kind: resource };
  if (group) d.group = group;
  return d;
}

export const Errors = {
  notFound(group: string, resource: string, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${qualifiedResource(group, resource)} "${name}" not found`, details(group, resource, name));
  },
  unknownResource(): ApiError {
    return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  },
  alreadyExists(group: string, resource: string, name: string): ApiError {
    return new ApiError(
      409,
      'AlreadyExists',
      `${qualifiedResource(group, resource)} "${name}" already exists`,
      details(group, resource, name),
    );
  },
  conflict(
    group: string,
    resource: string,
    name: string,
    why = 'the object has been modified; please apply your changes to the latest version and try again',
  ): ApiError {
    return new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualifiedResource(group, resource)} "${name}": ${why}`,
      details(group, resource, name),
    );
  },
  /** A 409 whose subject is the Kind (`ConfigMap "x"`), as storage preconditions report it. */
  conflictOnKind(group: string, kind: string, name: string, why: string): ApiError {
    return new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${group ? `${kind}.${group}` : kind} "${name}": ${why}`,
      details(group, kind, name),
    );
  },
  badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  },
  methodNotAllowed(message = 'the server does not allow this method on the requested resource'): ApiError {
    return new ApiError(405, 'MethodNotAllowed', message, {});
  },
  unsupportedMediaType(_contentType: string, accepted: string[]): ApiError {
    // negotiation.errUnsupportedMediaType: a Status without details.
    return new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    );
  },
  internal(message: string): ApiError {
    return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
  },
  tooManyRequests(retryAfterSeconds: number): ApiError {
    return new ApiError(
      429,
      'TooManyRequests',
      'Too many requests, please try again later.',
      { retryAfterSeconds },
      { 'Retry-After': String(retryAfterSeconds) },
    );
  },
  serviceUnavailable(message: string): ApiError {
    return new ApiError(503, 'ServiceUnavailable', message, {});
  },
  gone(message: string): ApiError {
    return new ApiError(410, 'Expired', message);
  },
  forbidden(group: string, resource: string, name: string, why: string): ApiError {
    // A request without a name (list, create) reads `pods is forbidden: …`, as kube-apiserver says it.
    const what = name ? `${qualifiedResource(group, resource)} "${name}"` : qualifiedResource(group, resource);
    return new ApiError(403, 'Forbidden', `${what} is forbidden: ${why}`, details(group, resource, name));
  },
  unauthorized(): ApiError {
    return new ApiError(401, 'Unauthorized', 'Unauthorized', {});
  },
  /** apierrors.NewInvalid: `Kind.group "name" is invalid: <errors>`, an aggregate deduplicated as utilerrors does. */
  invalid(group: string, kind: string, name: string, causes: FieldError[]): ApiError {
    const msgs = [...new Set(causes.map((c) => `${c.field}: ${c.message}`))];
    const message = `${group ? `${kind}.${group}` : kind} "${name}" is invalid: ${msgs.length === 1 ? msgs[0]! : `[${msgs.join(', ')}]`}`;
    const d: StatusDetails = {
      ...(name ? { name } : {}),
      ...(group ? { group } : {}),
      kind,
      causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })),
    };
    return new ApiError(422, 'Invalid', message, d);
  },
};

/** apimachinery field.Error: `field: <Type>: detail`. */
export interface FieldError {
  field: string;
  reason: string;
  message: string;
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
}

export const FieldErrors = {
  invalid(field: string, value: unknown, detail: string): FieldError {
    return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(value)}: ${detail}` };
  },
  required(field: string, detail = ''): FieldError {
    return { field, reason: 'FieldValueRequired', message: detail ? `Required value: ${detail}` : 'Required value' };
  },
  notSupported(field: string, value: unknown, supported: string[]): FieldError {
    return {
      field,
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${show(value)}: supported values: ${supported.map((s) => `"${s}"`).join(', ')}`,
    };
  },
  duplicate(field: string, value: unknown): FieldError {
    return { field, reason: 'FieldValueDuplicate', message: `Duplicate value: ${show(value)}` };
  },
  forbidden(field: string, detail: string): FieldError {
    return { field, reason: 'FieldValueForbidden', message: `Forbidden: ${detail}` };
  },
  tooLong(field: string, max: number): FieldError {
    return { field, reason: 'FieldValueTooLong', message: `Too long: must have at most ${max} bytes` };
  },
  immutable(field: string, value: unknown): FieldError {
    return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(value)}: field is immutable` };
  },
};
