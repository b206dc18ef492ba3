export {
  checkWrappingAlgorithm,
  checkWrappingKeySpec,
  chooseWrapping,
  isAesKeyWrap,
  isOaep,
  oaepCapacity,
  oaepHashOf,
  type WrappingChoice,
} from './choose.js';
export { wrapKeyMaterial } from './wrap.js';
