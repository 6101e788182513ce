ALTER TABLE "login_failures" ALTER COLUMN "user_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "login_failures" ADD COLUMN "unknown_login" text;--> statement-breakpoint
ALTER TABLE "login_failures" ADD COLUMN "client_address" text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX "login_failures_unknown_time_idx" ON "login_failures" USING btree ("unknown_login","failed_at");--> statement-breakpoint
CREATE INDEX "login_failures_address_time_idx" ON "login_failures" USING btree ("client_address","failed_at");--> statement-breakpoint
CREATE INDEX "login_failures_time_idx" ON "login_failures" USING btree ("failed_at");