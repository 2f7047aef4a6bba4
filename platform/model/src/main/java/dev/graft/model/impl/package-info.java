/** Implementation of tokenizers and the chat-template engine; not exported. */
package dev.graft.model.impl;
