/** Image references and the patterns policies match them with. */
export type { ImageRef } from './image-ref.js';
export {
  DOCKER_HUB,
  familiarName,
  familiarRepositoryName,
  isDockerHub,
  isRegistryLike,
  normalizeRegistry,
  parseImageRef,
  parseRepositoryName,
  REGISTERED_DIGEST_ALGORITHMS,
} from './image-ref.js';
export type { ImagePattern, ImagePatternKind } from './image-pattern.js';
export { compileImagePattern, compileImagePatterns, matchesAny } from './image-pattern.js';
