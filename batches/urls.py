"""Browser pages of batches and schedules (the API is in ``batches/api``)."""

from django.urls import path

from batches import views

urlpatterns = [
    path("batches/", views.batch_list_page, name="batches-page"),
    path("batches/new/", views.batch_new_page, name="batch-new-page"),
    path("batches/<uuid:pk>/", views.batch_page, name="batch-page"),
    path("batches/<uuid:pk>/cancel", views.batch_cancel_page, name="batch-cancel-page"),
    path("schedules/", views.schedule_list_page, name="schedules-page"),
    path("schedules/new/", views.schedule_new_page, name="schedule-new-page"),
    path("schedules/<int:pk>/", views.schedule_edit_page, name="schedule-page"),
    path("schedules/<int:pk>/pause", views.schedule_pause_page, name="schedule-pause-page"),
    path("schedules/<int:pk>/delete", views.schedule_delete_page, name="schedule-delete-page"),
]
