/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
export type BackgroundRemovalInput = {
  alphaMatting?: boolean;
  /** Base64 or data: URL; PNG, JPEG or WebP. */
  image?: string | null | undefined;
  /** A file part of a multipart request (the GraphQL multipart request spec). */
  imageFile?: File | Blob | null | undefined;
  /** The result image of one of your SUCCEEDED tasks, read on the server. */
  imageFromTask?: string | number | null | undefined;
  /** Which image of that task's result (0, the default, is the first). */
  imageFromTaskImage?: number | null | undefined;
  model?: string | null | undefined;
  onlyMask?: boolean;
};

export type FaceSwapInput = {
  /** Faces ordered left to right. */
  sourceFaceIndex?: number;
  /** The face to put in. */
  sourceImage?: string | null | undefined;
  /** A file part of a multipart request (the GraphQL multipart request spec). */
  sourceImageFile?: File | Blob | null | undefined;
  /** The result image of one of your SUCCEEDED tasks, read on the server. */
  sourceImageFromTask?: string | number | null | undefined;
  /** Which image of that task's result (0, the default, is the first). */
  sourceImageFromTaskImage?: number | null | undefined;
  /** null = every face in the target. */
  targetFaceIndex?: number | null | undefined;
  /** The picture to put it into. */
  targetImage?: string | null | undefined;
  /** A file part of a multipart request (the GraphQL multipart request spec). */
  targetImageFile?: File | Blob | null | undefined;
  /** The result image of one of your SUCCEEDED tasks, read on the server. */
  targetImageFromTask?: string | number | null | undefined;
  /** Which image of that task's result (0, the default, is the first). */
  targetImageFromTaskImage?: number | null | undefined;
};

export type ImageGenerationInput = {
  guidanceScale?: number;
  height?: number;
  /** Up to 5 LoRA adapters of the server's model store, combined, each named once; null or []: the base model alone. */
  loras?: Array<LoraInput> | null | undefined;
  /** A configured model name; default from settings. */
  model?: string | null | undefined;
  negativePrompt?: string | null | undefined;
  /** 1 to ATELIER_MAX_IMAGES (default 4) images in one batched run, one seed each. */
  numImages?: number;
  previews?: boolean;
  prompt: string;
  refinePrompt?: boolean;
  /** A sampler by name: euler, euler-ancestral, dpmpp-2m, ddim, pndm, lms, unipc, lcm; null: the model's own. */
  scheduler?: string | null | undefined;
  /** 0 .. 2147483647; null picks one, returned in the result (image k: seed + k). */
  seed?: number | null | undefined;
  steps?: number;
  /** A prompt style preset: photo, cinematic, illustration, anime, 3d. */
  style?: string | null | undefined;
  /** Multiple of 8, within bounds. */
  width?: number;
};

export type ImageToImageInput = {
  guidanceScale?: number;
  /** Base64 or data: URL; PNG, JPEG or WebP. The result has its size, rounded to a multiple of 8. */
  image?: string | null | undefined;
  /** A file part of a multipart request (the GraphQL multipart request spec). */
  imageFile?: File | Blob | null | undefined;
  /** The result image of one of your SUCCEEDED tasks, read on the server. */
  imageFromTask?: string | number | null | undefined;
  /** Which image of that task's result (0, the default, is the first). */
  imageFromTaskImage?: number | null | undefined;
  /** Up to 5 LoRA adapters of the server's model store, combined, each named once; null or []: the base model alone. */
  loras?: Array<LoraInput> | null | undefined;
  model?: string | null | undefined;
  negativePrompt?: string | null | undefined;
  /** 1 to ATELIER_MAX_IMAGES (default 4) images in one batched run, one seed each. */
  numImages?: number;
  previews?: boolean;
  prompt: string;
  refinePrompt?: boolean;
  /** A sampler by name: euler, euler-ancestral, dpmpp-2m, ddim, pndm, lms, unipc, lcm; null: the model's own. */
  scheduler?: string | null | undefined;
  /** 0 .. 2147483647; null picks one, returned in the result (image k: seed + k). */
  seed?: number | null | undefined;
  steps?: number;
  /** 0 < strength <= 1: how far from the input (1 ignores it). */
  strength?: number;
  /** A prompt style preset: photo, cinematic, illustration, anime, 3d. */
  style?: string | null | undefined;
};

export type InpaintingInput = {
  guidanceScale?: number;
  /** Base64 or data: URL; PNG, JPEG or WebP. The result has its size, rounded to a multiple of 8. */
  image?: string | null | undefined;
  /** A file part of a multipart request (the GraphQL multipart request spec). */
  imageFile?: File | Blob | null | undefined;
  /** The result image of one of your SUCCEEDED tasks, read on the server. */
  imageFromTask?: string | number | null | undefined;
  /** Which image of that task's result (0, the default, is the first). */
  imageFromTaskImage?: number | null | undefined;
  /** Up to 5 LoRA adapters of the server's model store, combined, each named once; null or []: the base model alone. */
  loras?: Array<LoraInput> | null | undefined;
  /** White = repaint, black = keep (kept pixels come back as they were); the image's size. */
  mask?: string | null | undefined;
  /** A file part of a multipart request (the GraphQL multipart request spec). */
  maskFile?: File | Blob | null | undefined;
  /** The result image of one of your SUCCEEDED tasks, read on the server. */
  maskFromTask?: string | number | null | undefined;
  /** Which image of that task's result (0, the default, is the first). */
  maskFromTaskImage?: number | null | undefined;
  model?: string | null | undefined;
  negativePrompt?: string | null | undefined;
  /** 1 to ATELIER_MAX_IMAGES (default 4) images in one batched run, one seed each. */
  numImages?: number;
  previews?: boolean;
  prompt: string;
  refinePrompt?: boolean;
  /** A sampler by name: euler, euler-ancestral, dpmpp-2m, ddim, pndm, lms, unipc, lcm; null: the model's own. */
  scheduler?: string | null | undefined;
  /** 0 .. 2147483647; null picks one, returned in the result (image k: seed + k). */
  seed?: number | null | undefined;
  steps?: number;
  /** 0 < strength <= 1: how far from the input (1 ignores it). */
  strength?: number;
  /** A prompt style preset: photo, cinematic, illustration, anime, 3d. */
  style?: string | null | undefined;
};

/** A LoRA adapter and how strongly it applies. */
export type LoraInput = {
  /** An adapter in the server's model store. */
  name: string;
  /** -2 .. 2: 1 applies it as trained, 0 not at all, below 0 pushes away from it. */
  scale?: number;
};

export type SubmitTaskInput =
  {   backgroundRemoval: BackgroundRemovalInput; faceSwap?: never; imageGeneration?: never; imageToImage?: never; inpainting?: never; }
  |  { backgroundRemoval?: never;   faceSwap: FaceSwapInput; imageGeneration?: never; imageToImage?: never; inpainting?: never; }
  |  { backgroundRemoval?: never; faceSwap?: never;   imageGeneration: ImageGenerationInput; imageToImage?: never; inpainting?: never; }
  |  { backgroundRemoval?: never; faceSwap?: never; imageGeneration?: never;   imageToImage: ImageToImageInput; inpainting?: never; }
  |  { backgroundRemoval?: never; faceSwap?: never; imageGeneration?: never; imageToImage?: never;   inpainting: InpaintingInput; };

/** TaskError.code as an enum, to switch on. */
export type TaskErrorCode =
  | 'CANCELLED'
  | 'DEADLINE_EXCEEDED'
  | 'ENQUEUE_FAILED'
  | 'FACE_INDEX_OUT_OF_RANGE'
  | 'IMAGE_TOO_COMPLEX'
  | 'IMAGE_TOO_LARGE'
  | 'INVALID_IMAGE'
  | 'INVALID_PARAMETERS'
  | 'MODEL_NOT_AVAILABLE'
  | 'NO_FACE_FOUND'
  | 'PIPELINE_ERROR'
  | 'TIMEOUT'
  | 'UNKNOWN_MODEL'
  | 'WORKER_LOST';

export type TaskKind =
  | 'BACKGROUND_REMOVAL'
  | 'FACE_SWAP'
  | 'IMAGE_GENERATION'
  | 'IMAGE_TO_IMAGE'
  | 'INPAINTING';

/** Task.stage as an enum, to switch on (stage stays the text to show). */
export type TaskStage =
  | 'CANCELLED'
  | 'CANCELLING'
  | 'DECODING'
  | 'DECODING_INPUT'
  | 'DENOISING'
  | 'DETECTING_FACES'
  | 'DONE'
  | 'ENCODING'
  | 'FAILED'
  | 'LOADING_MODEL'
  | 'QUEUED'
  | 'REFINING_PROMPT'
  | 'REMOVING_BACKGROUND'
  | 'REQUEUED'
  | 'RESTARTING'
  | 'STARTING'
  | 'SWAPPING_FACES';

export type TaskStatus =
  | 'CANCELLED'
  | 'FAILED'
  | 'QUEUED'
  | 'RUNNING'
  | 'SUCCEEDED';

export type TaskFieldsFragment = { id: string, kind: TaskKind, status: TaskStatus, progress: number, stage: string | null, stageCode: TaskStage | null, step: number | null, totalSteps: number | null, queuePosition: number | null, sequence: number, attempts: number, cancelRequested: boolean, createdAt: string, startedAt: string | null, finishedAt: string | null, expiresAt: string | null, preview: { width: number, height: number, url: string } | null, error: { code: string, reason: TaskErrorCode | null, message: string } | null, result: { seed: number | null, seeds: Array<number> | null, promptUsed: string | null, negativePromptUsed: string | null, metadata: Record<string, unknown>, details: { model: string | null, device: string | null, steps: number | null, numImages: number | null, demo: boolean, timings: Array<{ phase: string, ms: number }> }, images: Array<{ contentType: string, width: number, height: number, url: string }> } | null };

export type SubmitTaskMutationVariables = Exact<{
  input: SubmitTaskInput;
  idempotencyKey?: string | null | undefined;
}>;


export type SubmitTaskMutation = { submitTask: { id: string, kind: TaskKind, status: TaskStatus, progress: number, stage: string | null, stageCode: TaskStage | null, step: number | null, totalSteps: number | null, queuePosition: number | null, sequence: number, attempts: number, cancelRequested: boolean, createdAt: string, startedAt: string | null, finishedAt: string | null, expiresAt: string | null, preview: { width: number, height: number, url: string } | null, error: { code: string, reason: TaskErrorCode | null, message: string } | null, result: { seed: number | null, seeds: Array<number> | null, promptUsed: string | null, negativePromptUsed: string | null, metadata: Record<string, unknown>, details: { model: string | null, device: string | null, steps: number | null, numImages: number | null, demo: boolean, timings: Array<{ phase: string, ms: number }> }, images: Array<{ contentType: string, width: number, height: number, url: string }> } | null } };

export type CancelTaskMutationVariables = Exact<{
  id: string | number;
}>;


export type CancelTaskMutation = { cancelTask: { id: string, kind: TaskKind, status: TaskStatus, progress: number, stage: string | null, stageCode: TaskStage | null, step: number | null, totalSteps: number | null, queuePosition: number | null, sequence: number, attempts: number, cancelRequested: boolean, createdAt: string, startedAt: string | null, finishedAt: string | null, expiresAt: string | null, preview: { width: number, height: number, url: string } | null, error: { code: string, reason: TaskErrorCode | null, message: string } | null, result: { seed: number | null, seeds: Array<number> | null, promptUsed: string | null, negativePromptUsed: string | null, metadata: Record<string, unknown>, details: { model: string | null, device: string | null, steps: number | null, numImages: number | null, demo: boolean, timings: Array<{ phase: string, ms: number }> }, images: Array<{ contentType: string, width: number, height: number, url: string }> } | null } };

export type TaskQueryVariables = Exact<{
  id: string | number;
}>;


export type TaskQuery = { task: { id: string, kind: TaskKind, status: TaskStatus, progress: number, stage: string | null, stageCode: TaskStage | null, step: number | null, totalSteps: number | null, queuePosition: number | null, sequence: number, attempts: number, cancelRequested: boolean, createdAt: string, startedAt: string | null, finishedAt: string | null, expiresAt: string | null, preview: { width: number, height: number, url: string } | null, error: { code: string, reason: TaskErrorCode | null, message: string } | null, result: { seed: number | null, seeds: Array<number> | null, promptUsed: string | null, negativePromptUsed: string | null, metadata: Record<string, unknown>, details: { model: string | null, device: string | null, steps: number | null, numImages: number | null, demo: boolean, timings: Array<{ phase: string, ms: number }> }, images: Array<{ contentType: string, width: number, height: number, url: string }> } | null } | null };

export type TaskProgressSubscriptionVariables = Exact<{
  id: string | number;
}>;


export type TaskProgressSubscription = { taskProgress: { id: string, kind: TaskKind, status: TaskStatus, progress: number, stage: string | null, stageCode: TaskStage | null, step: number | null, totalSteps: number | null, queuePosition: number | null, sequence: number, attempts: number, cancelRequested: boolean, createdAt: string, startedAt: string | null, finishedAt: string | null, expiresAt: string | null, preview: { width: number, height: number, url: string } | null, error: { code: string, reason: TaskErrorCode | null, message: string } | null, result: { seed: number | null, seeds: Array<number> | null, promptUsed: string | null, negativePromptUsed: string | null, metadata: Record<string, unknown>, details: { model: string | null, device: string | null, steps: number | null, numImages: number | null, demo: boolean, timings: Array<{ phase: string, ms: number }> }, images: Array<{ contentType: string, width: number, height: number, url: string }> } | null } };

export type MyTasksSubscriptionVariables = Exact<{
  statuses?: Array<TaskStatus> | TaskStatus | null | undefined;
}>;


export type MyTasksSubscription = { myTasks: { id: string, kind: TaskKind, status: TaskStatus, progress: number, stage: string | null, stageCode: TaskStage | null, step: number | null, totalSteps: number | null, queuePosition: number | null, sequence: number, attempts: number, cancelRequested: boolean, createdAt: string, startedAt: string | null, finishedAt: string | null, expiresAt: string | null, preview: { width: number, height: number, url: string } | null, error: { code: string, reason: TaskErrorCode | null, message: string } | null, result: { seed: number | null, seeds: Array<number> | null, promptUsed: string | null, negativePromptUsed: string | null, metadata: Record<string, unknown>, details: { model: string | null, device: string | null, steps: number | null, numImages: number | null, demo: boolean, timings: Array<{ phase: string, ms: number }> }, images: Array<{ contentType: string, width: number, height: number, url: string }> } | null } };

export const TaskFieldsFragmentDoc = {"kind":"Document","definitions":[{"kind":"FragmentDefinition","name":{"kind":"Name","value":"TaskFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Task"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"progress"}},{"kind":"Field","name":{"kind":"Name","value":"stage"}},{"kind":"Field","name":{"kind":"Name","value":"stageCode"}},{"kind":"Field","name":{"kind":"Name","value":"step"}},{"kind":"Field","name":{"kind":"Name","value":"totalSteps"}},{"kind":"Field","name":{"kind":"Name","value":"queuePosition"}},{"kind":"Field","name":{"kind":"Name","value":"sequence"}},{"kind":"Field","name":{"kind":"Name","value":"attempts"}},{"kind":"Field","name":{"kind":"Name","value":"cancelRequested"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"startedAt"}},{"kind":"Field","name":{"kind":"Name","value":"finishedAt"}},{"kind":"Field","name":{"kind":"Name","value":"expiresAt"}},{"kind":"Field","name":{"kind":"Name","value":"preview"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}},{"kind":"Field","name":{"kind":"Name","value":"error"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"code"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"Field","name":{"kind":"Name","value":"result"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"seed"}},{"kind":"Field","name":{"kind":"Name","value":"seeds"}},{"kind":"Field","name":{"kind":"Name","value":"promptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"negativePromptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"metadata"}},{"kind":"Field","name":{"kind":"Name","value":"details"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"device"}},{"kind":"Field","name":{"kind":"Name","value":"steps"}},{"kind":"Field","name":{"kind":"Name","value":"numImages"}},{"kind":"Field","name":{"kind":"Name","value":"demo"}},{"kind":"Field","name":{"kind":"Name","value":"timings"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"phase"}},{"kind":"Field","name":{"kind":"Name","value":"ms"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"images"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"contentType"}},{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}}]}}]}}]} as unknown as DocumentNode<TaskFieldsFragment, unknown>;
export const SubmitTaskDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"SubmitTask"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"SubmitTaskInput"}}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"idempotencyKey"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"submitTask"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}},{"kind":"Argument","name":{"kind":"Name","value":"idempotencyKey"},"value":{"kind":"Variable","name":{"kind":"Name","value":"idempotencyKey"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"TaskFields"}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"TaskFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Task"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"progress"}},{"kind":"Field","name":{"kind":"Name","value":"stage"}},{"kind":"Field","name":{"kind":"Name","value":"stageCode"}},{"kind":"Field","name":{"kind":"Name","value":"step"}},{"kind":"Field","name":{"kind":"Name","value":"totalSteps"}},{"kind":"Field","name":{"kind":"Name","value":"queuePosition"}},{"kind":"Field","name":{"kind":"Name","value":"sequence"}},{"kind":"Field","name":{"kind":"Name","value":"attempts"}},{"kind":"Field","name":{"kind":"Name","value":"cancelRequested"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"startedAt"}},{"kind":"Field","name":{"kind":"Name","value":"finishedAt"}},{"kind":"Field","name":{"kind":"Name","value":"expiresAt"}},{"kind":"Field","name":{"kind":"Name","value":"preview"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}},{"kind":"Field","name":{"kind":"Name","value":"error"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"code"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"Field","name":{"kind":"Name","value":"result"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"seed"}},{"kind":"Field","name":{"kind":"Name","value":"seeds"}},{"kind":"Field","name":{"kind":"Name","value":"promptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"negativePromptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"metadata"}},{"kind":"Field","name":{"kind":"Name","value":"details"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"device"}},{"kind":"Field","name":{"kind":"Name","value":"steps"}},{"kind":"Field","name":{"kind":"Name","value":"numImages"}},{"kind":"Field","name":{"kind":"Name","value":"demo"}},{"kind":"Field","name":{"kind":"Name","value":"timings"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"phase"}},{"kind":"Field","name":{"kind":"Name","value":"ms"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"images"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"contentType"}},{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}}]}}]}}]} as unknown as DocumentNode<SubmitTaskMutation, SubmitTaskMutationVariables>;
export const CancelTaskDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"CancelTask"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"cancelTask"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"TaskFields"}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"TaskFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Task"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"progress"}},{"kind":"Field","name":{"kind":"Name","value":"stage"}},{"kind":"Field","name":{"kind":"Name","value":"stageCode"}},{"kind":"Field","name":{"kind":"Name","value":"step"}},{"kind":"Field","name":{"kind":"Name","value":"totalSteps"}},{"kind":"Field","name":{"kind":"Name","value":"queuePosition"}},{"kind":"Field","name":{"kind":"Name","value":"sequence"}},{"kind":"Field","name":{"kind":"Name","value":"attempts"}},{"kind":"Field","name":{"kind":"Name","value":"cancelRequested"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"startedAt"}},{"kind":"Field","name":{"kind":"Name","value":"finishedAt"}},{"kind":"Field","name":{"kind":"Name","value":"expiresAt"}},{"kind":"Field","name":{"kind":"Name","value":"preview"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}},{"kind":"Field","name":{"kind":"Name","value":"error"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"code"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"Field","name":{"kind":"Name","value":"result"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"seed"}},{"kind":"Field","name":{"kind":"Name","value":"seeds"}},{"kind":"Field","name":{"kind":"Name","value":"promptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"negativePromptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"metadata"}},{"kind":"Field","name":{"kind":"Name","value":"details"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"device"}},{"kind":"Field","name":{"kind":"Name","value":"steps"}},{"kind":"Field","name":{"kind":"Name","value":"numImages"}},{"kind":"Field","name":{"kind":"Name","value":"demo"}},{"kind":"Field","name":{"kind":"Name","value":"timings"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"phase"}},{"kind":"Field","name":{"kind":"Name","value":"ms"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"images"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"contentType"}},{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}}]}}]}}]} as unknown as DocumentNode<CancelTaskMutation, CancelTaskMutationVariables>;
export const TaskDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"Task"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"task"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"TaskFields"}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"TaskFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Task"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"progress"}},{"kind":"Field","name":{"kind":"Name","value":"stage"}},{"kind":"Field","name":{"kind":"Name","value":"stageCode"}},{"kind":"Field","name":{"kind":"Name","value":"step"}},{"kind":"Field","name":{"kind":"Name","value":"totalSteps"}},{"kind":"Field","name":{"kind":"Name","value":"queuePosition"}},{"kind":"Field","name":{"kind":"Name","value":"sequence"}},{"kind":"Field","name":{"kind":"Name","value":"attempts"}},{"kind":"Field","name":{"kind":"Name","value":"cancelRequested"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"startedAt"}},{"kind":"Field","name":{"kind":"Name","value":"finishedAt"}},{"kind":"Field","name":{"kind":"Name","value":"expiresAt"}},{"kind":"Field","name":{"kind":"Name","value":"preview"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}},{"kind":"Field","name":{"kind":"Name","value":"error"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"code"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"Field","name":{"kind":"Name","value":"result"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"seed"}},{"kind":"Field","name":{"kind":"Name","value":"seeds"}},{"kind":"Field","name":{"kind":"Name","value":"promptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"negativePromptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"metadata"}},{"kind":"Field","name":{"kind":"Name","value":"details"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"device"}},{"kind":"Field","name":{"kind":"Name","value":"steps"}},{"kind":"Field","name":{"kind":"Name","value":"numImages"}},{"kind":"Field","name":{"kind":"Name","value":"demo"}},{"kind":"Field","name":{"kind":"Name","value":"timings"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"phase"}},{"kind":"Field","name":{"kind":"Name","value":"ms"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"images"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"contentType"}},{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}}]}}]}}]} as unknown as DocumentNode<TaskQuery, TaskQueryVariables>;
export const TaskProgressDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"TaskProgress"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"id"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"taskProgress"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"id"},"value":{"kind":"Variable","name":{"kind":"Name","value":"id"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"TaskFields"}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"TaskFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Task"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"progress"}},{"kind":"Field","name":{"kind":"Name","value":"stage"}},{"kind":"Field","name":{"kind":"Name","value":"stageCode"}},{"kind":"Field","name":{"kind":"Name","value":"step"}},{"kind":"Field","name":{"kind":"Name","value":"totalSteps"}},{"kind":"Field","name":{"kind":"Name","value":"queuePosition"}},{"kind":"Field","name":{"kind":"Name","value":"sequence"}},{"kind":"Field","name":{"kind":"Name","value":"attempts"}},{"kind":"Field","name":{"kind":"Name","value":"cancelRequested"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"startedAt"}},{"kind":"Field","name":{"kind":"Name","value":"finishedAt"}},{"kind":"Field","name":{"kind":"Name","value":"expiresAt"}},{"kind":"Field","name":{"kind":"Name","value":"preview"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}},{"kind":"Field","name":{"kind":"Name","value":"error"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"code"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"Field","name":{"kind":"Name","value":"result"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"seed"}},{"kind":"Field","name":{"kind":"Name","value":"seeds"}},{"kind":"Field","name":{"kind":"Name","value":"promptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"negativePromptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"metadata"}},{"kind":"Field","name":{"kind":"Name","value":"details"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"device"}},{"kind":"Field","name":{"kind":"Name","value":"steps"}},{"kind":"Field","name":{"kind":"Name","value":"numImages"}},{"kind":"Field","name":{"kind":"Name","value":"demo"}},{"kind":"Field","name":{"kind":"Name","value":"timings"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"phase"}},{"kind":"Field","name":{"kind":"Name","value":"ms"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"images"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"contentType"}},{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}}]}}]}}]} as unknown as DocumentNode<TaskProgressSubscription, TaskProgressSubscriptionVariables>;
export const MyTasksDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"MyTasks"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"statuses"}},"type":{"kind":"ListType","type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"TaskStatus"}}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"myTasks"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"statuses"},"value":{"kind":"Variable","name":{"kind":"Name","value":"statuses"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"FragmentSpread","name":{"kind":"Name","value":"TaskFields"}}]}}]}},{"kind":"FragmentDefinition","name":{"kind":"Name","value":"TaskFields"},"typeCondition":{"kind":"NamedType","name":{"kind":"Name","value":"Task"}},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"kind"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"progress"}},{"kind":"Field","name":{"kind":"Name","value":"stage"}},{"kind":"Field","name":{"kind":"Name","value":"stageCode"}},{"kind":"Field","name":{"kind":"Name","value":"step"}},{"kind":"Field","name":{"kind":"Name","value":"totalSteps"}},{"kind":"Field","name":{"kind":"Name","value":"queuePosition"}},{"kind":"Field","name":{"kind":"Name","value":"sequence"}},{"kind":"Field","name":{"kind":"Name","value":"attempts"}},{"kind":"Field","name":{"kind":"Name","value":"cancelRequested"}},{"kind":"Field","name":{"kind":"Name","value":"createdAt"}},{"kind":"Field","name":{"kind":"Name","value":"startedAt"}},{"kind":"Field","name":{"kind":"Name","value":"finishedAt"}},{"kind":"Field","name":{"kind":"Name","value":"expiresAt"}},{"kind":"Field","name":{"kind":"Name","value":"preview"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}},{"kind":"Field","name":{"kind":"Name","value":"error"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"code"}},{"kind":"Field","name":{"kind":"Name","value":"reason"}},{"kind":"Field","name":{"kind":"Name","value":"message"}}]}},{"kind":"Field","name":{"kind":"Name","value":"result"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"seed"}},{"kind":"Field","name":{"kind":"Name","value":"seeds"}},{"kind":"Field","name":{"kind":"Name","value":"promptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"negativePromptUsed"}},{"kind":"Field","name":{"kind":"Name","value":"metadata"}},{"kind":"Field","name":{"kind":"Name","value":"details"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"model"}},{"kind":"Field","name":{"kind":"Name","value":"device"}},{"kind":"Field","name":{"kind":"Name","value":"steps"}},{"kind":"Field","name":{"kind":"Name","value":"numImages"}},{"kind":"Field","name":{"kind":"Name","value":"demo"}},{"kind":"Field","name":{"kind":"Name","value":"timings"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"phase"}},{"kind":"Field","name":{"kind":"Name","value":"ms"}}]}}]}},{"kind":"Field","name":{"kind":"Name","value":"images"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"contentType"}},{"kind":"Field","name":{"kind":"Name","value":"width"}},{"kind":"Field","name":{"kind":"Name","value":"height"}},{"kind":"Field","name":{"kind":"Name","value":"url"}}]}}]}}]}}]} as unknown as DocumentNode<MyTasksSubscription, MyTasksSubscriptionVariables>;