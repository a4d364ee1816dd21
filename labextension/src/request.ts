import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IDiagnostic } from './tokens';

/** The URL namespace of the cellpipe server extension. */
export const API_NAMESPACE = 'cellpipe';

/**
 * Call the cellpipe server extension.
 *
 * @param endPoint path under `<baseUrl>/cellpipe/`, query string included
 * @param init request options; a JSON body is passed as a string
 * @returns the decoded JSON answer (`undefined` for an empty body, e.g. 202)
 * @throws ServerConnection.ResponseError carrying the server's message
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const requestUrl = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(requestUrl, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }

  const text = await response.text();
  let data: any = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch (error) {
      console.warn('cellpipe: answer is not JSON', response.url, text);
      data = text;
    }
  }

  if (!response.ok) {
    const message =
      (data && typeof data === 'object' && (data.message || data.error)) ||
      (typeof data === 'string' && data) ||
      response.statusText;
    const error = new ServerConnection.ResponseError(response, String(message));
    if (data && typeof data === 'object' && Array.isArray(data.diagnostics)) {
      (error as Error & { diagnostics?: IDiagnostic[] }).diagnostics =
        data.diagnostics as IDiagnostic[];
    }
    throw error;
  }
  return data as T;
}

/** POST a JSON body. */
export function postJSON<T>(endPoint: string, body: unknown): Promise<T> {
  return requestAPI<T>(endPoint, {
    method: 'POST',
    body: JSON.stringify(body)
  });
}
