/**
 * The outbound HTTP vocabulary on Effect 4: `effect/http`'s client modules (the same names as
 * `@effect/platform`'s), and the errors whose shape differs: Effect 4 has one `HttpClientError` whose
 * `reason` is a `TransportError`, `DecodeError`, … (Effect 3: `RequestError`/`ResponseError` with a
 * reason string). A sub-port (`#port/httpClient`), not re-exported by `#port`.
 *
 * @internal
 */
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"

export * as HttpClient from "effect/http/HttpClient"
export * as HttpClientError from "effect/http/HttpClientError"
export * as HttpClientRequest from "effect/http/HttpClientRequest"
export * as HttpClientResponse from "effect/http/HttpClientResponse"

/** The error of a response that cannot be used: Effect 4's `HttpClientError` (3: `ResponseError`). */
export type ResponseFailure = HttpClientError.HttpClientError

/** A response whose body could not be decoded: `HttpClientError` with a `DecodeError` reason. */
export const decodeFailure = (
  request: HttpClientRequest.HttpClientRequest,
  response: HttpClientResponse.HttpClientResponse,
  cause: unknown,
  description: string
): ResponseFailure =>
  new HttpClientError.HttpClientError({
    reason: new HttpClientError.DecodeError({ request, response, cause, description })
  })

/** A request that got no response: `HttpClientError` with a `TransportError` reason. */
export const transportFailure = (
  request: HttpClientRequest.HttpClientRequest,
  cause: unknown,
  description: string
): HttpClientError.HttpClientError =>
  new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, cause, description }) })

/** An error of the network or the peer (no response): a `TransportError` reason. */
export const isTransportFailure = (error: unknown): boolean =>
  HttpClientError.isHttpClientError(error) && error.reason._tag === "TransportError"

/** The caller's own mistake (the request could not be built or sent): an `EncodeError`/`InvalidUrlError` reason. */
export const isRequestFault = (error: unknown): boolean =>
  HttpClientError.isHttpClientError(error) &&
  (error.reason._tag === "EncodeError" || error.reason._tag === "InvalidUrlError")

/** Whether `u` is a client response. */
export const isHttpResponse = (u: unknown): u is HttpClientResponse.HttpClientResponse =>
  typeof u === "object" && u !== null && HttpClientResponse.TypeId in u
