/**
 * The input of one workflow execution: one key, one requested action, and where the request
 * came from. Shared by the trigger, the sweep and the state machine (the workflow contract).
 */

/** `rotate`: new material for the key (lib/rotate.ts rotateKey, in place or by alias swap), through the runbook's rotation branch. */
export type WorkAction = 'recover' | 'renew' | 'plan' | 'auto' | 'rotate';

export interface WorkItem {
  /** Key ID, key ARN or alias. Events always give a key ID here. */
  keyRef: string;
  action: WorkAction;
  trigger: {
    /** `aws.kms`, `kms-reimport.manual`, `kms-reimport.sweep` */
    source: string;
    /** The EventBridge detail-type, or `Manual Request` / `Scheduled Sweep`. */
    detailType: string;
    /** The event's id: for logs only, never part of an execution's input. */
    eventId?: string;
    /** The event's time: for logs only, never part of an execution's input. */
    time?: string;
  };
  /**
   * The execution's own (deterministic) name, added to the execution input by the trigger and
   * the sweep so that every task can put it on its log lines. Identical for duplicate triggers.
   */
  executionName?: string;
}

export const MANUAL_SOURCE = 'kms-reimport.manual';
export const MANUAL_DETAIL_TYPE = 'Manual Request';
export const SWEEP_SOURCE = 'kms-reimport.sweep';
export const SWEEP_DETAIL_TYPE = 'Scheduled Sweep';
