package dev.graft.api;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.osgi.service.component.annotations.ComponentPropertyType;

/**
 * Sets the {@value FineTuningMethod#NAME} service property on a DS component:
 * {@code @MethodName("lora")}.
 */
@ComponentPropertyType
@Documented
@Retention(RetentionPolicy.CLASS)
@Target(ElementType.TYPE)
public @interface MethodName {
  /**
   * Prefix of the property name; DS derives the rest ({@code method.name}) from this single-element
   * annotation's type name, giving {@value FineTuningMethod#NAME}.
   */
  String PREFIX_ = "graft.";

  /** The method's unique lower-case name. */
  String value();
}
