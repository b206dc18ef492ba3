export {
  checkWrappingAlgorithm,
  checkWrappingKeySpec,
  chooseWrapping,
  DEFAULT_WRAPPING_ALGORITHM,
  isAesKeyWrap,
  isOaep,
  oaepCapacity,
  oaepHashOf,
  type WrappingChoice,
  wrappingFamilyOf,
} from './choose.js';
export { wrapKeyMaterial } from './wrap.js';
