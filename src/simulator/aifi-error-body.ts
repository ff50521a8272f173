import type { z } from 'zod'
import type { FieldError } from '../schemas.ts'

// AiFi validates with Joi (the `rule` values in its documented error body are Joi's), so validation
// failures are phrased the way Joi would phrase them: `"field" must be ...` with the rule name.

export interface AifiErrorBody {
  message: string
  type: 'E_INVALID_BODY'
  errors: FieldError[]
}

export function buildInvalidBody(message: string, errors: FieldError[]): AifiErrorBody {
  return { message, type: 'E_INVALID_BODY', errors }
}

export function fieldError(field: string, error: string, rule: string): FieldError {
  return { error: `"${field}" ${error}`, rule, field: `"${field}"` }
}

/** Joi-like wording for the zod issues the shared PATCH body schema can raise. */
export function describeZodIssues(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.flatMap((issue): FieldError[] => {
    const field = issue.path.length > 0 ? issue.path.map(String).join('.') : 'value'
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => fieldError(key, 'is not allowed', 'object.unknown'))
      case 'invalid_value':
        return [fieldError(field, `must be [${issue.values.map(String).join(', ')}]`, 'any.only')]
      case 'invalid_type':
        return [fieldError(field, 'must be of type object', 'object.base')]
      default:
        return [fieldError(field, 'is invalid', 'any.invalid')]
    }
  })
}
