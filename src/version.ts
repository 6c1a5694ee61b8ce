/** The auth4agent version, shown by `--version` and `GET /healthz`. */
export const VERSION = "0.1.0";
