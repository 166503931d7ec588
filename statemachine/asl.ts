/**
 * Builders for the Amazon States Language (JSONPath) states the build-image workflow is made
 * of. Each returns named states with their notes as `Comment`s, so the workflow's description
 * (build-image.ts) reads as a list of steps while the rendered definition stays plain ASL.
 *
 * Paths are written in forms every engine reads alike (AWS, and the local engines that run
 * the tests): a path that ends in a field after an index (`$.Volumes[0].State`) is a list in
 * some engines and a wildcard over one item (`$.Volumes[*].State`) a scalar in others, so a
 * poll selects the item itself (`$.Volumes[0]`) and tests its field in the next state.
 */

import type { RegionalAction } from '../contract/regional-call.ts';
import type { ResourceWaitKind } from '../contract/resource-wait.ts';

export type State = Record<string, unknown> & { Type: 'Task' | 'Pass' | 'Choice' | 'Wait' | 'Fail' | 'Map' };
export type States = Record<string, State>;
export type Rule = Record<string, unknown>;

/** Where every failure goes: the state that names the error and fails the execution. */
export const BUILD_FAILED = 'Build failed?';

/**
 * EC2 names every error Ec2.Ec2Exception, throttling (RequestLimitExceeded) included, and the
 * local engines name it ec2.ec2Exception: a Retry cannot tell throttling from a lasting error,
 * so every EC2 error is retried, enough for the account's token buckets to refill under a
 * burst of builds (CreateVolume's bucket refills 5 per second: 200 builds starting together
 * need about 20 s of retries past the first 100). Jittered, so retries spread instead of
 * arriving together; capped at 16 s apart; a lasting error fails the build about half a
 * minute later than at once.
 */
const EC2_RETRY = (maxAttempts: number) => [
  { ErrorEquals: ['Ec2.Ec2Exception', 'ec2.ec2Exception'], IntervalSeconds: 1, MaxAttempts: maxAttempts, BackoffRate: 2, MaxDelaySeconds: 16, JitterStrategy: 'FULL' },
];

/** States.ALL: worker, SQS and EC2 error names differ between AWS and the local engines. */
const CATCH_ALL = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: BUILD_FAILED }];

const withComment = (comment: string | undefined): { Comment?: string } => (comment === undefined ? {} : { Comment: comment });

export interface Ec2TaskOptions {
  comment?: string;
  parameters: Record<string, unknown>;
  resultSelector?: Record<string, unknown>;
  /** Where the (selected) answer goes; null discards it. */
  resultPath: string | null;
  /** null ends the branch: inside a Map, whose own Catch sees the failure. */
  next: string | null;
  /** Reads retry more: they are cheap and a poll that gives up fails the build. */
  read?: boolean;
  /** false: one call, no retry, for a call whose failure has a way round (onFailure) that a late retry could spoil. */
  retried?: boolean;
  /** Fewer retries than the default, for a call whose failure has a way round (onFailure) that is cheaper than retrying. */
  maxAttempts?: number;
  /** Where a failure goes instead of the build's failure, and where its error is kept. */
  onFailure?: { resultPath: string; next: string };
}

/** A call to one EC2 action through the aws-sdk integration, retried on EC2 errors. */
export function ec2Task(action: string, options: Ec2TaskOptions): State {
  return {
    Type: 'Task',
    ...withComment(options.comment),
    Resource: `arn:aws:states:::aws-sdk:ec2:${action}`,
    Parameters: options.parameters,
    ...(options.resultSelector === undefined ? {} : { ResultSelector: options.resultSelector }),
    ResultPath: options.resultPath,
    ...(options.retried === false ? {} : { Retry: EC2_RETRY(options.maxAttempts ?? (options.read === true ? 8 : 6)) }),
    ...(options.next === null
      ? { End: true }
      : {
          Catch: options.onFailure === undefined ? CATCH_ALL : [{ ErrorEquals: ['States.ALL'], ResultPath: options.onFailure.resultPath, Next: options.onFailure.next }],
          Next: options.next,
        }),
  };
}

export interface Ec2VariantsOptions extends Omit<Ec2TaskOptions, 'parameters'> {
  /** The state that picks the call. */
  decision: string;
  /** Where the planned request lives in the input, e.g. `$.registerImage`. */
  request: string;
  /** Parameters sent on every call: a name to read from `request`, or a fixed `Name.$` entry. */
  always: (string | [string, string])[];
  /** Parameters sent only when the planner put them in `request`. */
  whenPresent: string[];
  /** The combinations of `whenPresent` the call supports; any other goes to `otherwise`. */
  supported: string[][];
  /** Where an unsupported combination goes; by default the plain call (none present) catches all. */
  otherwise?: string;
  /**
   * The optional parameters an ordinary build sends: the state that sends exactly these keeps
   * the plain name, and the others are named by what they add or lack, so the timeline of an
   * ordinary build reads "Create volume", not a list of parameters.
   */
  usual?: string[];
}

/**
 * One EC2 action whose optional parameters have no value that means "unset". In JSONPath a
 * Task names its parameters, and a named path the input lacks fails the state; a Task without
 * Parameters sends no parameters at all in the local engines. So the call is rendered once per
 * supported combination of optional parameters, picked by a Choice on which are present.
 */
export function ec2TaskVariants(name: string, action: string, options: Ec2VariantsOptions): States {
  const usual = options.usual ?? [];
  const variantName = (present: string[]): string => {
    const added = present.filter((field) => !usual.includes(field));
    const lacking = usual.filter((field) => !present.includes(field));
    return [name, ...(added.length > 0 ? [`with ${added.join(' and ')}`] : []), ...(lacking.length > 0 ? [`without ${lacking.join(' and ')}`] : [])].join(' ');
  };
  const parametersFor = (present: string[]) =>
    Object.fromEntries([
      ...options.always.map((field) => (typeof field === 'string' ? [`${field}.$`, `${options.request}.${field}`] : [`${field[0]}.$`, field[1]])),
      ...present.map((field) => [`${field}.$`, `${options.request}.${field}`]),
    ]) as Record<string, unknown>;
  const otherwise = options.otherwise ?? variantName([]);
  const presence = (present: string[]): Rule => {
    const rules = options.whenPresent.map((field) => ({ Variable: `${options.request}.${field}`, IsPresent: present.includes(field) }));
    return rules.length === 1 ? (rules[0] as Rule) : { And: rules };
  };
  const states: States = {
    [options.decision]: {
      Type: 'Choice',
      Comment: `Picks the ${action} call that names exactly the optional parameters the planner gave: ${options.whenPresent.join(', ')}.`,
      Choices: options.supported
        .filter((present) => variantName(present) !== otherwise)
        .map((present) => ({ ...presence(present), Next: variantName(present) })),
      Default: otherwise,
    },
  };
  for (const present of options.supported) {
    states[variantName(present)] = ec2Task(action, {
      comment: variantName(present) === name ? options.comment : `As ${name}, with exactly ${present.length > 0 ? present.join(' and ') : 'none'} of ${options.whenPresent.join(', ')}.`,
      parameters: parametersFor(present),
      resultSelector: options.resultSelector,
      resultPath: options.resultPath,
      read: options.read,
      next: options.next,
    });
  }
  return states;
}

export interface SecretsTaskOptions {
  comment?: string;
  parameters: Record<string, unknown>;
  next: string;
}

/**
 * A call to one Secrets Manager action (aws-sdk integration), its answer discarded. Retried
 * on any task failure: the calls it makes (tag, delete) are idempotent.
 */
export function secretsTask(action: string, options: SecretsTaskOptions): State {
  return {
    Type: 'Task',
    ...withComment(options.comment),
    Resource: `arn:aws:states:::aws-sdk:secretsmanager:${action}`,
    Parameters: options.parameters,
    ResultPath: null,
    Retry: [{ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: 'FULL' }],
    Catch: CATCH_ALL,
    Next: options.next,
  };
}

export interface PublishEventOptions {
  comment?: string;
  /** The detail type, e.g. `Build Started` (contract/events.ts). */
  detailType: string;
  /** The detail, as Parameters: fixed fields and `name.$` paths. */
  detail: Record<string, unknown>;
  next: string;
}

/**
 * Publishes one of the factory's events (source `ami-factory`) on the factory's bus
 * (`${EventBusName}`). The optimized integration rather than aws-sdk:eventbridge: it fails
 * the task when an entry is not accepted (EventBridge.FailedEntry), where the SDK call
 * succeeds with FailedEntryCount > 0, and the local AWS runs only this form.
 *
 * An event reports the build; it is not part of it. Throttling (the whole call, or an entry)
 * and any other failure are retried with backoff (1, 2, 4, 8 s, jittered), and a publication
 * that still fails is passed over: the build goes on, and the failed attempts stay in the
 * execution history. Failing a build whose image is ready would have the clean-up function
 * deregister a good image for want of a notification.
 * A retry after a lost answer can publish twice: consumers key on build id and detail type.
 */
export function publishEvent(options: PublishEventOptions): State {
  return {
    Type: 'Task',
    ...withComment(options.comment),
    Resource: 'arn:aws:states:::events:putEvents',
    Parameters: {
      Entries: [{ EventBusName: '${EventBusName}', Source: 'ami-factory', DetailType: options.detailType, Detail: options.detail }],
    },
    ResultPath: null,
    Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 1, MaxAttempts: 4, BackoffRate: 2, JitterStrategy: 'FULL' }],
    // The error is kept beside the build's state, for the history; nothing reads it.
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.unpublishedEvent', Next: options.next }],
    Next: options.next,
  };
}

/** A Choice: on to `then` when the input has a non-null `path`, else to `otherwise`. */
export function whenPresent(path: string, then: string, otherwise: string, comment: string): State {
  return {
    Type: 'Choice',
    Comment: comment,
    Choices: [{ And: [{ Variable: path, IsPresent: true }, { Variable: path, IsNull: false }], Next: then }],
    Default: otherwise,
  };
}

export interface SqsTaskOptions {
  comment?: string;
  queueUrl: string;
  messageBody: Record<string, unknown>;
  next: string;
}

/** A message to a worker, not waited for. */
export function sendToWorker(options: SqsTaskOptions): State {
  return {
    Type: 'Task',
    ...withComment(options.comment),
    Resource: 'arn:aws:states:::sqs:sendMessage',
    Parameters: { ...queueUrl(options.queueUrl), MessageBody: options.messageBody },
    ResultPath: null,
    Retry: [{ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: 'FULL' }],
    Catch: CATCH_ALL,
    Next: options.next,
  };
}

export interface AskWorkerOptions extends SqsTaskOptions {
  timeoutSecondsPath: string;
  heartbeatSecondsPath?: string;
  resultSelector?: Record<string, unknown>;
  resultPath: string | null;
}

/** A task for a worker that answers with the task token. */
export function askWorker(options: AskWorkerOptions): State {
  return {
    Type: 'Task',
    ...withComment(options.comment),
    Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
    Parameters: { ...queueUrl(options.queueUrl), MessageBody: { ...options.messageBody, 'taskToken.$': '$$.Task.Token' } },
    ...(options.heartbeatSecondsPath === undefined ? {} : { HeartbeatSecondsPath: options.heartbeatSecondsPath }),
    TimeoutSecondsPath: options.timeoutSecondsPath,
    ...(options.resultSelector === undefined ? {} : { ResultSelector: options.resultSelector }),
    ResultPath: options.resultPath,
    Catch: CATCH_ALL,
    Next: options.next,
  };
}

/** A fixed queue URL (a placeholder) or one read from the input (a path). */
function queueUrl(url: string): Record<string, string> {
  return url.startsWith('$.') ? { 'QueueUrl.$': url } : { QueueUrl: url };
}

/**
 * A failure the workflow detects itself, named `AmiFactory.<name>`, with a cause built from
 * the input, put in `$.error` for `next` (the build's failure, or a copy's own).
 */
export function raise(name: string, cause: { format: string; args: string[] } | string, next = BUILD_FAILED): State {
  const named = typeof cause === 'string' ? { Cause: cause } : { 'Cause.$': `States.Format('${cause.format}', ${cause.args.join(', ')})` };
  return { Type: 'Pass', Parameters: { Error: `AmiFactory.${name}`, ...named }, ResultPath: '$.error', Next: next };
}

export interface RegionalCallOptions {
  comment?: string;
  action: RegionalAction;
  /** Where the target's `accountId` and `region` are in the input. */
  target: string;
  /** The request: Parameters entries, or one path (or intrinsic) giving the whole object. */
  parameters: Record<string, unknown> | { path: string };
  resultSelector?: Record<string, unknown>;
  resultPath: string | null;
  next: string;
  /** Where any failure goes, with the error in `$.error`. */
  failTo: string;
  /** Errors worth another try besides throttling, e.g. a describe right after the create. */
  retryOn?: string[];
}

/** How long a regional call may take before the workflow stops waiting: the function answers in seconds. */
const REGIONAL_CALL_TIMEOUT_SECONDS = 300;

/**
 * One EC2 call in another region or account (contract/regional-call.ts): a message to the
 * regional-calls queue (`${RegionalCallsQueueUrl}`), answered by the regional-call function
 * with EC2's response or EC2's error name. Throttling is retried with backoff, as the SDK
 * integrations' Ec2Exception is.
 */
export function regionalCall(options: RegionalCallOptions): State {
  const parameters = 'path' in options.parameters ? { 'parameters.$': options.parameters.path } : { parameters: options.parameters };
  return {
    Type: 'Task',
    ...withComment(options.comment),
    Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
    Parameters: {
      QueueUrl: '${RegionalCallsQueueUrl}',
      MessageBody: {
        task: 'regional-call',
        'taskToken.$': '$$.Task.Token',
        'buildId.$': '$.buildId',
        call: { 'accountId.$': `${options.target}.accountId`, 'region.$': `${options.target}.region`, action: options.action, ...parameters },
      },
    },
    TimeoutSeconds: REGIONAL_CALL_TIMEOUT_SECONDS,
    ...(options.resultSelector === undefined ? {} : { ResultSelector: options.resultSelector }),
    ResultPath: options.resultPath,
    Retry: [
      {
        ErrorEquals: ['RequestLimitExceeded', 'Throttling', 'ThrottlingException', ...(options.retryOn ?? [])],
        IntervalSeconds: 2,
        MaxAttempts: 5,
        BackoffRate: 2,
        JitterStrategy: 'FULL',
      },
    ],
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: options.failTo }],
    Next: options.next,
  };
}

export interface AwaitResourceOptions {
  comment?: string;
  kind: ResourceWaitKind;
  /** Where the resource's id is in the input, e.g. `$.snapshot.SnapshotId`. */
  resourceId: string;
  /** The longest pause between checks: a path into the input (the build's `polling`). */
  intervalPath: string;
  /** The bound: a path to the most checks after the first. */
  maxAttemptsPath: string;
  /** More of the message: fields the kind reads (a snapshot-capacity wait's refusal). */
  message?: Record<string, string>;
  next: string;
}

/**
 * How long a wait may take at most before Step Functions itself gives up, if the
 * resource-waits function never answers (its own bound, polling.maxAttempts checks, ends
 * every wait it sees well before): a day, more than any snapshot of an AMI-sized volume.
 */
const RESOURCE_WAIT_TIMEOUT_SECONDS = 86_400;

/**
 * One wait for an EC2 resource of the workflow's region (contract/resource-wait.ts): a
 * message with the task token to the resource-waits queue (`${ResourceWaitsQueueUrl}`),
 * answered by the resource-waits function once the resource is ready, or failed with the
 * wait's own error (`AmiFactory.SnapshotNotCompleted`, `AmiFactory.VolumeFailed`...). One
 * state and one transition per wait; the checks, their pacing and their bound are the
 * function's.
 */
export function awaitResource(options: AwaitResourceOptions): State {
  return {
    Type: 'Task',
    ...withComment(options.comment),
    Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
    Parameters: {
      QueueUrl: '${ResourceWaitsQueueUrl}',
      MessageBody: {
        task: 'wait',
        kind: options.kind,
        'resourceId.$': options.resourceId,
        'buildId.$': '$.buildId',
        'intervalSeconds.$': options.intervalPath,
        'maxAttempts.$': options.maxAttemptsPath,
        ...options.message,
        'taskToken.$': '$$.Task.Token',
      },
    },
    TimeoutSeconds: RESOURCE_WAIT_TIMEOUT_SECONDS,
    ResultPath: null,
    Catch: CATCH_ALL,
    Next: options.next,
  };
}

export interface PollOptions {
  /** What is awaited, as in "Wait for <what>": names the loop's states. */
  what: string;
  /** The decision's name, e.g. "Volume available?". */
  decision: string;
  comment?: string;
  describe: { action: string; parameters: Record<string, unknown> } & (
    | { /** A list in the answer: its first item is tested as `$.observed.item`. */ item: string }
    | { /** Counts the answer's list: `$.observed.count`, for a describe narrowed by Filters. */ count: string }
  );
  /** Choice rules (without Next) on `$.observed` that mean done. */
  done: Rule;
  /** Choice rules that mean it will never be done, and the failure they raise. */
  failed?: { rule: Rule; error: string; cause: { format: string; args: string[] } };
  /** Seconds between polls: a path into the input, so tests poll fast and production gently. */
  intervalPath: string;
  /** The bound: a path to the maximum number of polls after the first. */
  maxAttemptsPath: string;
  /** Raised when the bound is reached. `{attempts}` is available as `$.poll.attempts`. */
  timedOut: { error: string; cause: { format: string; args: string[] } };
  next: string;
  /** Where a failure goes: the build's failure by default. */
  failTo?: string;
  /** Makes the describe call; an SDK integration call in the workflow's region by default. */
  describeWith?: (call: { comment?: string; resultSelector: Record<string, unknown>; resultPath: string; next: string }) => State;
}

/**
 * The one poll loop every wait uses: describe, decide, wait `intervalPath` seconds, count,
 * describe again; a state that can never become done, or more than `maxAttemptsPath` polls,
 * fails the build with its own error. Returns the loop's states; it starts at `Start <what> poll`.
 */
export function pollUntil(options: PollOptions): States {
  const { what } = options;
  const start = pollStart(what);
  const describeName = `Describe ${what}`;
  const waitName = `Wait for ${what}`;
  const countName = `Count ${what} poll`;
  const failedName = `${capitalise(what)} failed`;
  const timedOutName = `${capitalise(what)} not ready in time`;
  const { describe } = options;
  const selector = 'item' in describe ? { 'item.$': `${describe.item}[0]` } : { 'count.$': `States.ArrayLength(${describe.count})` };
  const comment = options.comment ?? ('item' in describe ? SELECT_THE_ITEM : undefined);
  const states: States = {
    [start]: { Type: 'Pass', Result: { attempts: 0 }, ResultPath: '$.poll', Next: describeName },
    [describeName]:
      options.describeWith === undefined
        ? ec2Task(describe.action, { comment, parameters: describe.parameters, resultSelector: selector, resultPath: '$.observed', read: true, next: options.decision })
        : options.describeWith({ ...withComment(comment), resultSelector: selector, resultPath: '$.observed', next: options.decision }),
    [options.decision]: {
      Type: 'Choice',
      Choices: [
        { ...options.done, Next: options.next },
        ...(options.failed === undefined ? [] : [{ ...options.failed.rule, Next: failedName }]),
        { Variable: '$.poll.attempts', NumericGreaterThanEqualsPath: options.maxAttemptsPath, Next: timedOutName },
      ],
      Default: waitName,
    },
    [waitName]: { Type: 'Wait', SecondsPath: options.intervalPath, Next: countName },
    [countName]: { Type: 'Pass', Parameters: { 'attempts.$': 'States.MathAdd($.poll.attempts, 1)' }, ResultPath: '$.poll', Next: describeName },
  };
  if (options.failed !== undefined) states[failedName] = raise(options.failed.error, options.failed.cause, options.failTo);
  states[timedOutName] = raise(options.timedOut.error, options.timedOut.cause, options.failTo);
  return states;
}

const SELECT_THE_ITEM =
  'Selects the item itself and tests its State in the decision: a field after an index reads as a list in some engines, a wildcard over one item as a scalar in others.';

/** The state a poll loop starts at. */
export const pollStart = (what: string): string => `Start ${what} poll`;

/** A Choice rule: the string at `path` is one of `values`. */
export function isOneOf(path: string, values: string[]): Rule {
  const rules = values.map((value) => ({ Variable: path, StringEquals: value }));
  return rules.length === 1 ? (rules[0] as Rule) : { Or: rules };
}

/**
 * Fails the execution with the error a Catch or a `raise` put in `$.error`. A worker's
 * SendTaskFailure or a timeout may carry no cause, and a Fail state's CausePath must find a
 * string; a Fail state may not raise the names Step Functions keeps for itself (States.*),
 * so States.Timeout is raised as AmiFactory.Timeout.
 */
export function failWithTheError(): States {
  return {
    [BUILD_FAILED]: {
      Type: 'Choice',
      Comment: 'Every failure comes here with the error in $.error. Nothing is undone here: the clean-up function, run when the execution ends FAILED, TIMED_OUT or ABORTED, finds the build\'s resources by its tag and execution history.',
      Choices: [
        {
          And: [
            { Variable: '$.error.Cause', IsPresent: true },
            { Variable: '$.error.Cause', IsString: true },
            { Not: { Variable: '$.error.Cause', StringEquals: '' } },
          ],
          Next: 'Step Functions error?',
        },
      ],
      Default: 'Give the error a cause',
    },
    'Give the error a cause': {
      Type: 'Pass',
      Comment: 'A Fail state\'s CausePath must find a string; a worker\'s failure or a timeout may carry none.',
      Parameters: { 'Error.$': '$.error.Error', Cause: 'the failing step gave no cause' },
      ResultPath: '$.error',
      Next: 'Step Functions error?',
    },
    'Step Functions error?': {
      Type: 'Choice',
      Comment: 'A Fail state may not raise a States.* name, the names Step Functions keeps for itself (a timeout, a heartbeat that stopped).',
      Choices: [{ Variable: '$.error.Error', StringMatches: 'States.*', Next: 'Rename the Step Functions error' }],
      Default: 'Build failed',
    },
    'Rename the Step Functions error': {
      Type: 'Pass',
      Comment: 'States.Timeout becomes AmiFactory.Timeout, States.HeartbeatTimeout AmiFactory.HeartbeatTimeout.',
      Parameters: {
        'Error.$': "States.Format('AmiFactory.{}', States.ArrayGetItem(States.StringSplit($.error.Error, '.'), 1))",
        'Cause.$': '$.error.Cause',
      },
      ResultPath: '$.error',
      Next: 'Build failed',
    },
    'Build failed': { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
  };
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
