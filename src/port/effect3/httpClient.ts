/**
 * The outbound HTTP vocabulary on Effect 3: `@effect/platform`'s client modules, and the few errors
 * whose shape differs in Effect 4 (`../effect4/httpClient.ts`: `effect/http`, one `HttpClientError`
 * with a `reason`). A sub-port (`#port/httpClient`), not re-exported by `#port`, so that the root entry
 * loads no HTTP module.
 *
 * @internal
 */
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"

export * as HttpClient from "@effect/platform/HttpClient"
export * as HttpClientError from "@effect/platform/HttpClientError"
export * as HttpClientRequest from "@effect/platform/HttpClientRequest"
export * as HttpClientResponse from "@effect/platform/HttpClientResponse"

/** The error of a response that cannot be used: Effect 3's `ResponseError` (4: `HttpClientError`). */
export type ResponseFailure = HttpClientError.ResponseError

/** A response whose body could not be decoded: `ResponseError` with reason `"Decode"`. */
export const decodeFailure = (
  request: HttpClientRequest.HttpClientRequest,
  response: HttpClientResponse.HttpClientResponse,
  cause: unknown,
  description: string
): ResponseFailure => new HttpClientError.ResponseError({ request, response, reason: "Decode", cause, description })

/** A request that got no response: `RequestError` with reason `"Transport"`. */
export const transportFailure = (
  request: HttpClientRequest.HttpClientRequest,
  cause: unknown,
  description: string
): HttpClientError.HttpClientError =>
  new HttpClientError.RequestError({ request, reason: "Transport", cause, description })

/** An error of the network or the peer (no response): a `RequestError` with reason `"Transport"`. */
export const isTransportFailure = (error: unknown): boolean =>
  HttpClientError.isHttpClientError(error) && error._tag === "RequestError" && error.reason === "Transport"

/** The caller's own mistake (the request could not be built or sent): `RequestError` `Encode`/`InvalidUrl`. */
export const isRequestFault = (error: unknown): boolean =>
  HttpClientError.isHttpClientError(error) && error._tag === "RequestError" && error.reason !== "Transport"

/** Whether `u` is a client response. */
export const isHttpResponse = (u: unknown): u is HttpClientResponse.HttpClientResponse =>
  typeof u === "object" && u !== null && HttpClientResponse.TypeId in u
