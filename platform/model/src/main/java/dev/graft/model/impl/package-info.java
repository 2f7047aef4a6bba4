/**
 * Implementation of tokenizers, the chat-template engine, the model graph builder and token
 * sampling; not exported.
 */
package dev.graft.model.impl;
