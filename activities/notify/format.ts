// A notification's body: the event as plain JSON, or a Slack incoming-webhook message ({ text, blocks }).
import type { NotifyEvent } from '../contract.js';

const HEADER_MAX = 150;
const SECTION_MAX = 2900;

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** The plain JSON payload: the event itself, with a version for receivers. */
export function jsonPayload(e: NotifyEvent): Record<string, unknown> {
  return { version: 1, ...e };
}

const ICON: Record<NotifyEvent['event'], string> = {
  'gate-opened': ':raised_hand:',
  'decision-needed': ':warning:',
  'run-ended': ':checkered_flag:',
};

/** A Slack incoming-webhook message: `text` (the notification line) and Block Kit `blocks`. */
export function slackPayload(e: NotifyEvent): { text: string; blocks: unknown[] } {
  const where = `run \`${e.migrationId}\` (plan ${e.plan}, cluster ${e.cluster}${e.namespace ? `, namespace ${e.namespace}` : ''})`;
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(e.summary, HEADER_MAX) } },
    { type: 'section', text: { type: 'mrkdwn', text: clip(`${ICON[e.event]} ${where}, phase *${e.phase}*`, SECTION_MAX) } },
  ];
  if (e.details.length > 0)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(e.details.map((d) => `• ${d}`).join('\n'), SECTION_MAX) } });
  if (e.error) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(`*error:* ${e.error}`, SECTION_MAX) } });
  if (e.commands.length > 0)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(`\`\`\`\n${e.commands.join('\n')}\n\`\`\``, SECTION_MAX) } });
  const context = [e.digest ? `digest \`${e.digest}\`` : '', e.expiresAt ? `expires ${e.expiresAt}` : '', `at ${e.at}`]
    .filter(Boolean)
    .join(' · ');
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(context, SECTION_MAX) }] });
  return { text: `${e.summary} — ${where}`, blocks };
}
