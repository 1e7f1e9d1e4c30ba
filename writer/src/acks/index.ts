export { AckPublisher } from './publisher.ts';
