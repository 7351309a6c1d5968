// Errors that only exist at the HTTP boundary (content negotiation, redirects of bad URLs).
// Store and engine errors are TelltaleErrors and get their status from `errorStatus`.
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, 'bad-request', message);
export const notAcceptable = (message: string): HttpError => new HttpError(406, 'not-acceptable', message);
export const unsupportedMediaType = (message: string): HttpError => new HttpError(415, 'unsupported-media-type', message);
