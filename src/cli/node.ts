import { ConfigError, loadConfig } from '../config/index.ts';
import { DEMO, PolicyLoadError, startNode } from '../node/index.ts';
import { DataKeyError } from '../store/index.ts';
import { MessageKinds, redactUrl, transferInput } from '../sync/index.ts';
import type { Command } from './main.ts';

export const nodeCommand: Command = {
  summary: 'run the edge node',
  async run(args) {
    if (args.includes('--help')) {
      process.stdout.write('usage: telemed-edge node\n\nConfigured by environment (PORT, TELEMED_DATA_DIR, ...) or TELEMED_CONFIG=<file.json>; see README.\n');
      return 0;
    }
    let config;
    try {
      config = loadConfig();
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`telemed-edge: ${err.message}\n`);
        return 78; // EX_CONFIG
      }
      throw err;
    }
    let node;
    try {
      node = await startNode(config);
    } catch (err) {
      if (err instanceof PolicyLoadError || err instanceof DataKeyError) {
        process.stderr.write(`telemed-edge: ${err.message}\n`);
        return 78;
      }
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        process.stderr.write(`telemed-edge: port ${config.port} is already in use (set PORT to another one)\n`);
        return 78;
      }
      throw err;
    }
    // With PORT=0 the OS picks the port: print the one really bound.
    const base = config.port === 0 ? config.publicUrl.replace(/:0$/, `:${new URL(node.url).port}`) : config.publicUrl;
    const lines = [
      '',
      `  telemed-edge node ${config.nodeId} (${config.nodeCity}) is up: ${base}`,
      `  data: ${config.dataDir}   FHIR: ${base}/fhir   metrics: ${base}/metrics`,
      `  hub: ${hubLine(config.amqpUrl, node.policy.current().decide(transferInput(config.nodeId, MessageKinds.heartbeat)))}`,
    ];
    if (config.demo) {
      const day = 12 * 3600;
      const clinician = await node.auth.mint(DEMO.clinician, 'authorized_medical_staff', day);
      const patient = await node.auth.mint(DEMO.patient, 'patient', day);
      lines.push(
        '',
        '  Demo mode (no identity provider configured). Sign-in links, valid 12 h:',
        `    clinician: ${base}/#token=${clinician}`,
        `    patient:   ${base}/join/${node.demoAppointment}#token=${patient}`,
        '  More tokens: npx telemed-edge token --role authorized_medical_staff --sub Practitioner/demo-clinician',
        '  Join links of any booked appointment: npx telemed-edge links <Appointment id>',
      );
    }
    process.stdout.write(lines.join('\n') + '\n\n');

    return new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        node.logger.info({ signal }, 'shutting down: draining requests');
        const force = setTimeout(() => {
          node.logger.error('shutdown timed out; exiting');
          resolve(1);
        }, node.settings.current().shutdownTimeoutMs); // the hub may have changed it since the start
        force.unref();
        node.close().then(
          () => {
            clearTimeout(force);
            node.logger.info('stopped');
            resolve(0);
          },
          (err: Error) => {
            node.logger.error({ err: { message: err.message } }, 'error while stopping');
            resolve(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  },
};

/**
 * What the banner says about the hub: standalone, or the broker and whether the
 * policy in force lets this node's de-identified heartbeats out at all (under
 * the shipped bundle it does not: the seed's `deny` keeps every transfer local).
 */
function hubLine(amqpUrl: string | undefined, heartbeat: { allow: boolean }): string {
  if (!amqpUrl) return 'none, running standalone (set AMQP_URL to join a fleet)';
  const broker = redactUrl(amqpUrl);
  return heartbeat.allow
    ? `${broker}; the policy lets de-identified heartbeats and figures out`
    : `${broker}; the policy in force refuses data_transfer to the hub, even de-identified heartbeats, so nothing leaves this node and the hub will not list it (README: "The hub and the fleet")`;
}
