import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/**
 * The event contract of docs/events.md, as types and as validators. Consumers
 * validate every message against these; a message that fails is a poison message.
 */

const isoDateTime = z.iso.datetime({ offset: true });
const userData = z.object({
  id: z.string().min(1),
  username: z.string().min(1),
  displayName: z.string(),
  role: z.enum(['USER', 'ADMIN']),
});

/** A task row as it travels on the bus (dates as ISO strings). */
export const taskRowSchema = z.object({
  id: z.string().min(1),
  title: z.string(),
  description: z.string().nullable(),
  status: z.enum(['TODO', 'IN_PROGRESS', 'DONE']),
  priority: z.enum(['LOW', 'MEDIUM', 'HIGH']),
  dueDate: z.string().nullable(),
  ownerId: z.string().min(1),
  assigneeId: z.string().nullable(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
});
export type TaskEventRow = z.infer<typeof taskRowSchema>;

const notificationRowSchema = z.object({
  id: z.string().min(1),
  userId: z.string().min(1),
  kind: z.enum([
    'TASK_ASSIGNED',
    'TASK_UNASSIGNED',
    'TASK_UPDATED',
    'TASK_COMPLETED',
    'TASK_DELETED',
  ]),
  message: z.string(),
  taskId: z.string().nullable(),
  actorId: z.string().nullable(),
  read: z.boolean(),
  createdAt: isoDateTime,
});

/** Payload validators per routing key, for payload `version: 1`. */
export const eventDataSchemas = {
  'user.created': userData,
  'user.updated': userData,
  'user.deleted': z.object({ id: z.string().min(1) }),
  'user.session_revoked': z.object({ id: z.string().min(1), sessionId: z.string().min(1) }),
  'user.sessions_revoked': z.object({ id: z.string().min(1), before: isoDateTime }),
  'task.created': z.object({ task: taskRowSchema }),
  'task.updated': z.object({
    task: taskRowSchema,
    changed: z.array(z.string()),
    previous: z.record(z.string(), z.unknown()),
  }),
  'task.assigned': z.object({ task: taskRowSchema, previousAssigneeId: z.string().nullable() }),
  'task.deleted': z.object({ task: taskRowSchema }),
  'notification.created': z.object({ notification: notificationRowSchema }),
} as const;

export type EventType = keyof typeof eventDataSchemas;
export type EventData<T extends EventType> = z.infer<(typeof eventDataSchemas)[T]>;
export const EVENT_TYPES = Object.keys(eventDataSchemas) as EventType[];
export const EVENT_VERSION = 1;
export type Producer = 'users' | 'tasks' | 'notifications';

/** The envelope every message body carries. */
export interface EventEnvelope<T extends EventType = EventType> {
  /** uuid, unique per event: consumers de-duplicate on it. */
  id: string;
  /** Same as the routing key. */
  type: T;
  version: typeof EVENT_VERSION;
  occurredAt: string;
  producer: Producer;
  /** The user whose action caused it, or null. */
  actorId: string | null;
  data: EventData<T>;
}

/** Any event, discriminated on `type`, so `switch (event.type)` narrows `data`. */
export type AnyEvent = { [T in EventType]: EventEnvelope<T> }[EventType];

export function createEvent<T extends EventType>(
  type: T,
  data: EventData<T>,
  meta: { producer: Producer; actorId: string | null; occurredAt?: Date },
): EventEnvelope<T> {
  return {
    id: randomUUID(),
    type,
    version: EVENT_VERSION,
    occurredAt: (meta.occurredAt ?? new Date()).toISOString(),
    producer: meta.producer,
    actorId: meta.actorId,
    data,
  };
}

const envelopeSchema = z.object({
  id: z.uuid(),
  type: z.string(),
  version: z.number().int(),
  occurredAt: isoDateTime,
  producer: z.enum(['users', 'tasks', 'notifications']),
  actorId: z.string().nullable(),
  data: z.unknown(),
});

/** Why a message cannot be applied, ever: it goes to the dead-letter queue. */
export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
}

/**
 * Parses and validates a message body. Throws `PoisonMessageError` for unparseable JSON,
 * an unknown type or version, or a payload that fails validation.
 */
export function parseEvent(body: Buffer | string, routingKey?: string): AnyEvent {
  let json: unknown;
  try {
    json = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    throw new PoisonMessageError('body is not JSON');
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success)
    throw new PoisonMessageError(`invalid envelope: ${z.prettifyError(envelope.error)}`);
  const { type, version, data } = envelope.data;
  if (!(type in eventDataSchemas)) throw new PoisonMessageError(`unknown event type "${type}"`);
  if (routingKey !== undefined && routingKey !== type) {
    throw new PoisonMessageError(`routing key "${routingKey}" does not match type "${type}"`);
  }
  if (version !== EVENT_VERSION)
    throw new PoisonMessageError(`unknown version ${version} of "${type}"`);
  const payload = eventDataSchemas[type as EventType].safeParse(data);
  if (!payload.success)
    throw new PoisonMessageError(`invalid "${type}" payload: ${z.prettifyError(payload.error)}`);
  return { ...envelope.data, version: EVENT_VERSION, data: payload.data } as AnyEvent;
}
