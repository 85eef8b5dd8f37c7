// What every server starter returns: how to reach it (as environment variables) and how to stop it.

export type ServerName = 'kafka' | 'mosquitto' | 'ferretdb' | 'minio';
export const SERVER_NAMES: readonly ServerName[] = ['kafka', 'mosquitto', 'ferretdb', 'minio'];

export interface StartContext {
  /** Folder for this run's log files (kept after stop). */
  logDir: string;
  /** Leave the server running after this process exits. */
  detached?: boolean;
}

export interface RunningServer {
  name: ServerName;
  version: string;
  pid: number;
  logFile: string;
  dataDir: string;
  /** Connection settings, as the EW_* variables test/config.ts reads. */
  env: Record<string, string>;
  stop(): Promise<void>;
}
