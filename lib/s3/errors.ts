// What the S3 answers mean to a checkpoint store: a failed condition (someone else wrote), a missing
// object, or a HydratorError with the code the CLI documents.
import { HydratorError, errorMessage } from '../errors.js'
import { isNetworkError } from '../retry.js'
import { awsErrorName, awsHttpStatus } from '../util/aws.js'
import type { S3Location } from './client.js'

/** The S3 operations a checkpoint store and a source make. */
export type S3Operation = 'GetObject' | 'PutObject' | 'DeleteObject' | 'ListObjectsV2'

const AUTH_NAMES = new Set([
  'AccessDenied',
  'Forbidden',
  'AllAccessDisabled',
  'AccountProblem',
  'InvalidAccessKeyId',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'SignatureDoesNotMatch',
  'CredentialsProviderError',
])

/** The error code S3 gave (`PreconditionFailed`), from the SDK's error name or its `Code`. */
function codeOf(error: unknown): string | undefined {
  const code = (error as { Code?: unknown } | null)?.Code
  return typeof code === 'string' && code ? code : awsErrorName(error)
}

/**
 * True when a conditional request lost: 412 PreconditionFailed (the version is not the expected
 * one), or 409 ConditionalRequestConflict (a concurrent write to the key won). Nothing was written.
 */
export function isConditionFailed(error: unknown): boolean {
  const code = codeOf(error)
  return code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || awsHttpStatus(error) === 412
}

/** How many times the SDK sent the request that failed (it retries a dropped connection, a 5xx). */
export const attemptsOf = (error: unknown): number => (error as { $metadata?: { attempts?: number } } | null)?.$metadata?.attempts ?? 1

/** True when the object is not there (NoSuchKey; NotFound answers a HEAD), as opposed to its bucket. */
export function isMissingObject(error: unknown): boolean {
  const code = codeOf(error)
  if (code === 'NoSuchKey' || code === 'NotFound') return true
  return awsHttpStatus(error) === 404 && code !== 'NoSuchBucket'
}

const cap = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}...` : text)

/**
 * A failed S3 call as the HydratorError the CLI documents, naming `s3://bucket/key`: a missing
 * bucket is ERR_TARGET_NOT_FOUND, refused or missing credentials ERR_AUTH (with the IAM actions
 * `needs` names, by default the checkpoint store's), no region or a bucket in another region
 * ERR_INVALID_OPTION, and anything else (a refused connection, a timeout,
 * a 5xx) ERR_CONNECTION. Messages hold S3's code and message, never the endpoint's userinfo.
 */
export function s3Error(error: unknown, where: S3Location, operation: S3Operation, needs?: string): HydratorError {
  const uri = `s3://${where.bucket}/${where.key}`
  const code = codeOf(error)
  const status = awsHttpStatus(error)
  const said = cap(`${code ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${errorMessage(error)}`)
  if (code === 'NoSuchBucket') {
    return new HydratorError('ERR_TARGET_NOT_FOUND', `the S3 bucket \`${where.bucket}\` of ${uri} does not exist (${said}): create it, or fix the bucket name or region`, {
      cause: error,
    })
  }
  if (code === 'CredentialsProviderError') {
    return new HydratorError('ERR_AUTH', `no AWS credentials for ${uri}: ${said}`, { cause: error })
  }
  if (status === 403 || (code !== undefined && AUTH_NAMES.has(code))) {
    return new HydratorError(
      'ERR_AUTH',
      `${operation} on ${uri} was refused (${said}): ` +
        (needs ??
          `a checkpoint in S3 needs s3:GetObject and s3:PutObject ` +
            `on arn:aws:s3:::${where.bucket}/${where.key} (s3:DeleteObject to remove it), and s3:ListBucket on the bucket, ` +
            `without which S3 answers a checkpoint not yet written with 403 too`),
      { cause: error },
    )
  }
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || status === 301) {
    return new HydratorError('ERR_INVALID_OPTION', `the S3 bucket \`${where.bucket}\` of ${uri} is in another region than the client's (${said}): give its region with \`?region=\` or AWS_REGION`, { cause: error })
  }
  if (/region is missing/i.test(errorMessage(error))) {
    return new HydratorError('ERR_INVALID_OPTION', `no AWS region for ${uri}: add \`?region=\` or set AWS_REGION`, { cause: error })
  }
  if (code === 'InvalidBucketName') {
    return new HydratorError('ERR_INVALID_URI', `S3 refused the bucket name \`${where.bucket}\` of ${uri} (${said})`, { cause: error })
  }
  const unreachable = isNetworkError(error) ? 'could not reach S3' : 'failed'
  return new HydratorError('ERR_CONNECTION', `${operation} on ${uri} ${unreachable}: ${said}`, { cause: error })
}
