import { attackStandalone } from './platform';
import { attackSuite } from './suite';

attackSuite('standalone', attackStandalone);
