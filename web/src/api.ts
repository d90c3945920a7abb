// The page's client of the /v1 API: the same API and the same signatures as the SDK. The page
// is authenticated by its session cookie (HttpOnly: this code never sees it); every unsafe
// request carries the CSRF token of the page's <meta name="csrf-token">.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function csrfToken(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
}

/** Headers every request of this page carries (the worker gets them too). */
export function authHeaders(): Record<string, string> {
  const token = csrfToken();
  return token ? { "X-CSRF-Token": token } : {};
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  /** Raw JSON text of the body (sent byte for byte: what was hashed is what is sent). */
  jsonText?: string;
  proof?: string;
  query?: Record<string, string>;
}

export async function request(path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders() };
  let body: string | undefined;
  if (options.jsonText !== undefined) body = options.jsonText;
  else if (options.json !== undefined) body = JSON.stringify(options.json);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (options.proof) headers["Sealroom-Proof"] = options.proof;
  const query = options.query ? `?${new URLSearchParams(options.query)}` : "";
  const response = await fetch(path + query, {
    method: options.method ?? (body === undefined ? "GET" : "POST"),
    headers,
    credentials: "same-origin",
    ...(body === undefined ? {} : { body }),
  });
  if (!response.ok) throw await problem(response);
  return response;
}

export async function getJson<T>(path: string, query?: Record<string, string>): Promise<T> {
  return (await (await request(path, query ? { query } : {})).json()) as T;
}

export async function sendJson<T>(path: string, options: RequestOptions): Promise<T> {
  const response = await request(path, options);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

async function problem(response: Response): Promise<ApiError> {
  if (response.status === 401) {
    // The session ended (logged out elsewhere, expired): back to the login page.
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
  }
  try {
    const body = (await response.json()) as { code?: string; detail?: string };
    return new ApiError(response.status, body.code ?? "error", body.detail ?? response.statusText);
  } catch {
    return new ApiError(response.status, "error", `${response.status} ${response.statusText}`);
  }
}
