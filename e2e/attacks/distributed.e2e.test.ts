import { attackDistributed } from './platform';
import { attackSuite } from './suite';

attackSuite('distributed', attackDistributed);
