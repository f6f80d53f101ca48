export type { Quantity } from './quantity.js';
export {
  compareQuantities,
  formatQuantity,
  isZero,
  multiplyQuantity,
  parseQuantity,
  quantityToNumber,
} from './quantity.js';
