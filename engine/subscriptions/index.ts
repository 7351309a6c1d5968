// Persistent subscriptions (competing consumers): the group logic, over the Store port only.
export * from './settings.js';
export * from './persistent-subscription-group.js';
export * from './persistent-subscriptions.js';
