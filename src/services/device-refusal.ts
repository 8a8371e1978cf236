// A device request the services refuse on purpose (unknown enrollment, impersonation): the HTTP
// layer answers with this status and a log line, never a 500.
export class DeviceRefusedError extends Error {
  constructor(readonly status: 400 | 401 | 403 | 404 | 409 | 410, message: string) {
    super(message);
  }
}
