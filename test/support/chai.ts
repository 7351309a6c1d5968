// chai with chai-as-promised, so specifications read `await expect(p).to.be.rejectedWith(X)`.
import * as chai from 'chai';
import chaiAsPromised from 'chai-as-promised';

chai.use(chaiAsPromised);
export const expect = chai.expect;
