// Names of the messages the build workflows answer: queries, updates, signals. Shared by
// the workflows and every client (CLI, HTTP API), so a name is written once.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { OperatorReply, OperatorRequest, VariantProgress } from './contract';
import type { ProductStatus, VariantStatus } from './status';

/** BuildVariant: every step's state, the operator waits, warnings. */
export const variantStatusQuery = defineQuery<VariantStatus>('status');
/** BuildProduct: every variant's state and warnings. */
export const productStatusQuery = defineQuery<ProductStatus>('status');

/** BuildVariant, while a step waits for an operator: run the step again with fresh attempts. */
export const retryUpdate = defineUpdate<OperatorReply, [OperatorRequest]>('retry');
/** BuildVariant: give up on a step the plan marks skippable; its dependents run without it. */
export const skipUpdate = defineUpdate<OperatorReply, [OperatorRequest]>('skip');
/** BuildVariant: fail the variant with the waiting step's error. */
export const abortUpdate = defineUpdate<OperatorReply, [OperatorRequest]>('abort');

/** BuildVariant, while a verify-licenses step waits on a review verdict: accept it and go on. */
export const approveUpdate = defineUpdate<OperatorReply, [OperatorRequest]>('approve');

/** BuildVariant → its parent BuildProduct, on every change of the variant's state. */
export const variantProgressSignal = defineSignal<[VariantProgress]>('variantProgress');
